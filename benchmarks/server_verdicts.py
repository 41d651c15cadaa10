"""Verdict pipeline throughput: can one server process keep up with 10,000 hosts probing every 10 minutes?

That fleet needs 10,000 / 600 s ≈ 16.7 verdicts per second. The benchmark fills a store
with ``--hosts`` hosts in one zone, each with a fresh round of measurements to 12
trusted landmarks (RTTs from realistic paths around Frankfurt), queues them all, and
times ``process_queue`` — which reads the round, runs the engine, compares the
fingerprint with the host's baseline and its zone's peers, and stores the verdict,
alerts and audit entry. The baseline is the engine call alone on the same rounds.

    PYTHONPATH=src python benchmarks/server_verdicts.py --db sqlite --hosts 400
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_common import postgres_cluster

from fleetproof.geo import distance_km
from fleetproof.server import admin
from fleetproof.server.config import ServerSettings
from fleetproof.server.context import ServerContext
from fleetproof.server.engine import GeoVerifier
from fleetproof.server.pipeline import _load_round, process_queue
from fleetproof.server.records_check import check_probe_record
from fleetproof.server.store.db import Database
from fleetproof.server.store.models import Device, Landmark, Measurement, VerdictQueue

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
}


def fill(ctx: ServerContext, hosts: int, now: float) -> None:
    rng = np.random.default_rng(7)
    admin.create_zone(ctx.db, admin.ZoneIn(id="fra-dc", allowed_countries=["DE"]), actor="bench", now=now)
    with ctx.db.write() as s:
        s.execute(
            insert(Landmark),
            [
                {
                    "id": k,
                    "lat": lat,
                    "lon": lon,
                    "address": "10.0.0.1:7400",
                    "public_key": "x" * 44,
                    "trusted": True,
                    "mesh": {},
                    "created_at": now,
                }
                for k, (lat, lon) in LANDMARKS.items()
            ],
        )
        devices, rows, queue = [], [], []
        for i in range(hosts):
            dev = f"dev-{i:06d}"
            lat, lon = 50.05 + rng.normal(0, 0.2), 8.57 + rng.normal(0, 0.3)
            devices.append(
                {
                    "id": dev,
                    "zone_id": "fra-dc",
                    "public_key": uuid.uuid4().hex,
                    "hostname": f"h{i}",
                    "enrolled_at": now,
                    "last_seen": now,
                    "inventory": {},
                    "health": "healthy",
                    "suspicious": False,
                    "relocated": False,
                    "peer_inconsistent": False,
                }
            )
            for lm, (llat, llon) in LANDMARKS.items():
                d = float(distance_km(lat, lon, llat, llon))
                rtt = 2 * d * rng.uniform(1.2, 1.8) / 199.86 + rng.uniform(0.2, 1.5)
                rows.append(
                    {
                        "device_id": dev,
                        "item_id": uuid.uuid4().hex,
                        "landmark_id": lm,
                        "time": now,
                        "rtt_ms": round(rtt, 3),
                        "record": {},
                    }
                )
            queue.append({"device_id": dev, "due_at": now - 60})
        s.execute(insert(Device), devices)
        s.execute(insert(Measurement), rows)
        s.execute(insert(VerdictQueue), queue)


def run(url: str, hosts: int) -> dict[str, object]:
    db = Database(url)
    db.migrate()
    now = time.time()
    ctx = ServerContext(
        settings=ServerSettings(db=url, admin_token="x" * 16, background=False),
        db=db,
        check_record=check_probe_record,
        verifier=GeoVerifier(),
        clock=lambda: now,
    )
    fill(ctx, hosts, now)
    verifier = ctx.verifier
    rounds = [_load_round(ctx, f"dev-{i:06d}", now) for i in range(min(hosts, 200))]
    verifier.verify(rounds[0][0])  # build the engine and load the country table outside the timing
    t0 = time.perf_counter()
    for r in rounds:
        verifier.verify(r[0])
    engine_per_s = len(rounds) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    done = 0
    while True:
        n = process_queue(ctx, now=now, limit=200)
        if not n:
            break
        done += n
    elapsed = time.perf_counter() - t0
    with db.read() as s:
        from sqlalchemy import func, select

        verdicts = dict(s.execute(select(Device.verdict, func.count()).group_by(Device.verdict)).all())
    db.dispose()
    return {
        "hosts": hosts,
        "verdicts_stored": done,
        "verdicts_per_s": round(done / elapsed, 1),
        "needed_for_10000_hosts_every_600_s": round(10_000 / 600, 1),
        "headroom": round(done / elapsed / (10_000 / 600), 2),
        "baseline_engine_only_per_s": round(engine_per_s, 1),
        "ratio_to_engine_only": round(done / elapsed / engine_per_s, 3),
        "verdict_counts": {str(k): v for k, v in verdicts.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres, or a database URL")
    parser.add_argument("--hosts", type=int, default=400)
    args = parser.parse_args()
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            result = run(f"sqlite:///{tmp}/bench.db", args.hosts)
    elif args.db == "postgres":
        with postgres_cluster() as url:
            result = run(url, args.hosts)
    else:
        result = run(args.db, args.hosts)
    print(json.dumps({"store": args.db.split(":")[0], **result}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
