"""How long ``fleetproof evidence verify`` takes for a bundle of ``--records`` measurement records.

The bundle is made the way the server makes it: a SQLite store with ``--landmarks``
European landmarks registered with signed position statements, a signed mesh between
them, and one device in Frankfurt probing every landmark every ``--interval-s`` seconds;
after each round the pipeline judges the device (window ``verdict_window_s`` = 1800 s,
so each verdict rests on the last 30 rounds); then ``export_bundle`` writes the bundle.
RTTs follow realistic paths plus a repeating 0–0.6 ms pattern, so a window's minimum is
usually the same from one verdict to the next, as on a stable network; ``--distinct``
makes every round faster than the last, so every verdict has new minima and nothing
is judged twice (the verifier's worst case).

Timed, each in a fresh process (imports, country table and all), median of ``--runs``:

- ``fleetproof evidence verify BUNDLE`` — every signature checked, vetting, calibration
  and every verdict recomputed;
- baseline: ``fleetproof records verify`` of the same device records against the
  landmark directory — signatures only, nothing recomputed.

    PYTHONPATH=src python benchmarks/evidence_verify.py --records 1000 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fleetproof.geo import distance_km
from fleetproof.probe.keys import public_key_b64
from fleetproof.probe.records import LandmarkEntry, MeasurementRecord, sign_record, write_landmark_directory
from fleetproof.probe.statement import sign_statement
from fleetproof.protocol.curve25519 import Ed25519PrivateKey
from fleetproof.server import admin
from fleetproof.server.config import ServerSettings
from fleetproof.server.context import ServerContext
from fleetproof.server.engine import GeoVerifier, GeoVetter
from fleetproof.server.evidence import export_bundle
from fleetproof.server.pipeline import judge_device
from fleetproof.server.records_check import check_probe_record
from fleetproof.server.store.db import Database
from fleetproof.server.store.models import Device, Measurement
from fleetproof.server.vetting import StoreMesh, record_mesh

LANDMARKS = {
    "par": (48.86, 2.35),
    "fra": (50.11, 8.68),
    "mad": (40.42, -3.70),
    "lon": (51.51, -0.13),
    "waw": (52.23, 21.01),
    "rom": (41.90, 12.50),
    "sto": (59.33, 18.07),
    "ams": (52.37, 4.90),
    "vie": (48.21, 16.37),
    "mil": (45.46, 9.19),
    "dub": (53.35, -6.26),
    "prg": (50.08, 14.44),
    "lis": (38.72, -9.14),
    "hel": (60.17, 24.94),
    "ath": (37.98, 23.73),
    "buc": (44.43, 26.10),
}
FRANKFURT_DC = (50.05, 8.57)
ROOT = Path(__file__).resolve().parents[1]


def rtt_ms(a: tuple[float, float], b: tuple[float, float], extra: float) -> float:
    return round(2 * 1.5 * float(distance_km(a[0], a[1], b[0], b[1])) / 199.86 + 0.5 + extra, 3)


def sign(
    key: Ed25519PrivateKey, prober: str, prober_key: str, landmark: str, rtt: float, t: float
) -> MeasurementRecord:
    return sign_record(
        key=key,
        device_id=prober,
        device_public_key=prober_key,
        landmark_id=landmark,
        session_id=uuid.uuid4().hex[:16],
        samples_ms=[rtt + 0.4, rtt, rtt + 1.1],
        lost=0,
        time=t,
    )


def make_bundle(
    workdir: Path, n_records: int, n_landmarks: int, interval_s: float, distinct: bool = False
) -> tuple[Path, Path, Path, dict]:
    url = f"sqlite:///{workdir / 'store.db'}"
    db = Database(url)
    db.migrate()
    clock = [1_800_000_000.0]
    ctx = ServerContext(
        settings=ServerSettings(db=url, admin_token="x" * 16, background=False),
        db=db,
        check_record=check_probe_record,
        clock=lambda: clock[0],
        vetter=GeoVetter(),
    )
    ctx.verifier = GeoVerifier(mesh=StoreMesh(ctx))
    names = list(LANDMARKS)[:n_landmarks]
    keys = {lm: Ed25519PrivateKey.generate() for lm in names}
    entries = []
    for lm in names:
        lat, lon = LANDMARKS[lm]
        st = sign_statement(keys[lm], landmark_id=lm, lat=lat, lon=lon, time=clock[0]).model_dump(mode="json")
        body = admin.LandmarkIn(
            id=lm,
            lat=lat,
            lon=lon,
            address="10.0.0.1:7400",
            public_key=public_key_b64(keys[lm]),
            statement=st,
        )
        admin.add_landmark(db, body, actor="bench", now=clock[0])
        entries.append(LandmarkEntry(lm, lat, lon, "10.0.0.1:7400", keys[lm].public_key()))
    mesh = [
        sign(
            keys[b], a, public_key_b64(keys[a]), b, rtt_ms(LANDMARKS[a], LANDMARKS[b], 0.2), clock[0]
        ).model_dump()
        for a in names
        for b in names
        if a != b
    ]
    record_mesh(ctx, [], mesh)
    admin.create_zone(db, admin.ZoneIn(id="de", allowed_countries=["DE"]), actor="bench", now=clock[0])
    device_key = Ed25519PrivateKey.generate()
    with db.write() as s:
        s.add(
            Device(
                id="fra-1",
                zone_id="de",
                public_key=public_key_b64(device_key),
                hostname="fra-1",
                enrolled_at=clock[0],
                last_seen=clock[0],
                inventory={},
                health="healthy",
                suspicious=False,
                relocated=False,
                peer_inconsistent=False,
            )
        )
    records: list[MeasurementRecord] = []
    rounds = -(-n_records // len(names))
    for r in range(rounds):
        clock[0] += interval_s
        extra = 0.01 * (rounds - r) if distinct else 0.1 * (r % 7)
        batch = [
            sign(
                keys[lm],
                "fra-1",
                public_key_b64(device_key),
                lm,
                rtt_ms(FRANKFURT_DC, LANDMARKS[lm], extra),
                clock[0],
            )
            for lm in names[: min(len(names), n_records - len(records))]
        ]
        records += batch
        with db.write() as s:
            for rec in batch:
                checked = check_probe_record(s, "fra-1", rec.model_dump(mode="json"))
                s.add(
                    Measurement(
                        device_id="fra-1",
                        item_id=rec.session_id,
                        landmark_id=checked.landmark_id,
                        time=checked.time,
                        rtt_ms=checked.rtt_ms,
                        record=checked.record,
                    )
                )
        judge_device(ctx, ctx.verifier, "fra-1", now=clock[0] + 1)
    doc = export_bundle(db, "fra-1", now=clock[0])
    db.dispose()
    bundle = workdir / "bundle.json"
    bundle.write_text(json.dumps(doc))
    rec_path = workdir / "records.jsonl"
    rec_path.write_text("".join(r.model_dump_json() + "\n" for r in records))
    dir_path = workdir / "DIR.csv"
    write_landmark_directory(dir_path, entries)
    return bundle, rec_path, dir_path, doc


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one fresh ``fleetproof`` process.

    On a shared machine the wall clock includes waiting for a core; the CPU time is what the
    command costs, and about what it takes on an otherwise idle machine.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "fleetproof", *argv], capture_output=True, text=True, env=env, check=False
    )
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[:2])} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def summary(name: str, runs: list[tuple[float, float]]) -> dict[str, object]:
    return {
        f"{name}_wall_s": round(statistics.median(w for w, _ in runs), 3),
        f"{name}_cpu_s": round(statistics.median(c for _, c in runs), 3),
        f"{name}_runs_wall_s": [round(w, 3) for w, _ in runs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--landmarks", type=int, default=12)
    parser.add_argument("--interval-s", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--distinct", action="store_true", help="every verdict with new minimum RTTs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetproof-evidence-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        bundle, records, directory, doc = make_bundle(
            work, args.records, args.landmarks, args.interval_s, args.distinct
        )
        build_s = time.perf_counter() - t0
        verify: list[tuple[float, float]] = []
        baseline: list[tuple[float, float]] = []
        for _ in range(args.runs):
            baseline.append(timed(["records", "verify", str(records), "--landmarks", str(directory)]))
            verify.append(timed(["evidence", "verify", str(bundle)]))
        rtt_sets = {json.dumps(v["evidence"]["rtts_ms"], sort_keys=True) for v in doc["verdicts"]}
        result: dict[str, object] = {
            "load_average_1m": round(os.getloadavg()[0], 2),
            "records": len(doc["records"]),
            "verdicts": len(doc["verdicts"]),
            "distinct_rounds": len(rtt_sets),
            "mesh_records": len(doc["mesh"]),
            "landmarks": len(doc["landmarks"]),
            "bundle_bytes": bundle.stat().st_size,
            "build_s": round(build_s, 1),
            **summary("evidence_verify", verify),
            **summary("records_verify", baseline),
        }
        for kind, k in (("wall", 0), ("cpu", 1)):
            ratio = statistics.median(r[k] for r in verify) / statistics.median(r[k] for r in baseline)
            result[f"ratio_{kind}"] = round(ratio, 2)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
