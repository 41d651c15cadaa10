"""The planner's promise, checked through the server: are the sites ``fleetproof plan`` calls provable
``proven`` by the server, and is no host moved out of its zone ever ``proven``?

1. **Fleet.** Sites in the metros of :data:`COUNTRIES` (the bundled ``metros.csv`` less its 50
   largest places; many are on a coast), each at a uniform distance of 0–10 km from its metro's
   centre in a uniform direction, spread evenly over the metros. One zone per country
   (``allowed_countries``). Fifty landmarks at the 50 largest metros stand in for the rest of a fleet.
2. **Plan.** ``fleetproof plan`` (its CLI entry, in this process) with the bundled metros as candidate
   places and the default delay model (inflation 1.4, 0.1 ms access per end): it adds landmarks —
   two at the site's own metro where that fits — and says which sites are provable.
3. **Server.** The server's own context (``build_context``: SQLite store, migrated, the engine with
   the store's mesh) behind its real ASGI app; everything goes through the HTTP API: zones, every
   landmark (existing and added, with a fresh Ed25519 key and its signed position statement),
   one enrolled device per provable site, and one per such site *moved*: enrolled in the same
   zone but placed at least ``--moved-km`` outside the zone's outline (land or sea).
4. **Measurements.** Each host sends, signed with its device key, one measurement record per landmark
   it measures (the landmarks plan.json's ``measure`` list names for its site; only the ``--measure``
   nearest with ``--nearest-only``, see ``plan_fleet_sites.measured``), signed by that landmark's key.
   Each record has three samples,
   ``RTT + U(0, jitter)`` each, with RTT the plan's delay model from where the host *really* is:
   ``2·d·1.4/v + 4·0.1 ms``. A moved host measures the same landmarks as its site, from its real
   position. Measuring fewer landmarks can only widen the engine's feasible region (a disk that is
   not measured excludes nothing), so leaving the others out cannot make a false ``proven``.
5. **Verdicts.** The server's verdict pipeline (``process_queue``) judges the queue once the debounce
   has passed; the verdicts are read back through the admin API and compared with plan.json. Every
   provable site that is not ``proven`` is listed with its evidence and with whether its jittered RTTs
   stayed within the plan's proof budgets.

``PYTHONPATH=src python benchmarks/plan_fleet_e2e.py --sites 1000 --seed 1 --jitter 0.02 --out e2e.json``
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fleetproof.geo import distance_km
from fleetproof.plan.model import DelayPlan
from fleetproof.protocol.curve25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_fleet_sites import (
    COUNTRIES,
    METRO_KM,
    Fleet,
    make_fleet,
    measured,
    moved_position,
    outline_kinds,
)

ADMIN_TOKEN = "plan-fleet-e2e-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
START_S = 1_800_000_000.0
#: Why a site the plan calls provable was not proven, as far as the plan can tell.
REASON_UNMEASURED = "a landmark carrying the plan's proof was not measured"
REASON_OVER_BUDGET = "a proof landmark's RTT is above the plan's proof budget"
REASON_JOINT = (
    "every proof landmark within its budget, but several above their modelled RTT at once, "
    "beyond the plan's joint budget"
)
REASON_WITHIN_BUDGET = "proof landmarks measured, within their budgets and the joint budget"


@dataclass
class Host:
    device_id: str
    site: str
    zone: str
    lat: float
    lon: float
    moved: bool
    landmarks: list[str]
    rtts_ms: dict[str, float] = field(default_factory=dict)
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)


def run_planner(fleet: Fleet, folder: Path, workers: int) -> tuple[dict[str, Any], str, float]:
    """``fleetproof plan`` on the fleet's files; plan.json, its summary and the seconds it took."""
    from fleetproof.cli import main

    sites, lms, zones, out = (folder / n for n in ("sites.csv", "landmarks.csv", "zones.json", "plan.json"))
    with sites.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "lat", "lon", "zone"])
        w.writerows([s["id"], s["lat"], s["lon"], s["zone"]] for s in fleet.sites)
    with lms.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "lat", "lon"])
        w.writerows([lm["id"], lm["lat"], lm["lon"]] for lm in fleet.existing)
    zones.write_text(json.dumps(fleet.zones), encoding="utf-8")
    argv = ["plan", "--sites", str(sites), "--landmarks", str(lms), "--zones", str(zones)]
    argv += ["--out", str(out), "--workers", str(workers)]
    text = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(text):
        status = main(argv)
    seconds = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"fleetproof plan failed with status {status}")
    return json.loads(out.read_text(encoding="utf-8")), text.getvalue(), seconds


def server_id(plan_id: str) -> str:
    """A planned landmark's id as registered with the server: the planner's own name (``<place>.j``)."""
    return plan_id


def make_hosts(
    plan: dict[str, Any], fleet: Fleet, measure: int, moved_km: float, seed: int, nearest_only: bool
) -> tuple[list[Host], dict[str, tuple[float, float]]]:
    """One host per provable site and one moved copy of it; and every landmark's position by server id."""
    from fleetproof.geodata import load_countries, load_country_edges
    from fleetproof.plan.zones import Zone, ZoneGeometry

    positions = {server_id(lm["id"]): (lm["lat"], lm["lon"]) for lm in fleet.existing}
    positions |= {server_id(a["id"]): (a["lat"], a["lon"]) for a in plan["added_landmarks"]}
    ids = list(positions)
    lm_lat = np.array([positions[i][0] for i in ids])
    lm_lon = np.array([positions[i][1] for i in ids])
    grid, edges = load_countries().grid, load_country_edges()
    geometry = {
        z["id"]: ZoneGeometry.of(Zone(z["id"], tuple(z["allowed_countries"])), grid, edges)
        for z in fleet.zones
    }
    rng = np.random.default_rng(seed + 1)
    delay = DelayPlan()
    hosts: list[Host] = []
    for s in plan["sites"]:
        if not (s["provable"] or s["provable_with_added"]):
            continue
        if nearest_only:
            d = np.asarray(distance_km(s["lat"], s["lon"], lm_lat, lm_lon))
            nearest = [ids[k] for k in measured(d, delay, measure, nearest_only=True).tolist()]
        else:
            nearest = [server_id(i) for i in s["measure"]]  # the plan's list for this site
        hosts.append(Host(s["site"], s["site"], s["zone"], s["lat"], s["lon"], False, nearest))
        where = moved_position(s["lat"], s["lon"], geometry[s["zone"]], moved_km, rng)
        if where is None:
            raise SystemExit(f"no place {moved_km} km outside zone {s['zone']} found for site {s['site']}")
        hosts.append(Host(f"moved-{s['site']}", s["site"], s["zone"], *where, True, nearest))
    return hosts, positions


class Server:
    """The server's context (as ``fleetproof server`` builds it) behind its ASGI app, on a fake clock."""

    def __init__(self, db_url: str) -> None:
        from fastapi.testclient import TestClient

        from fleetproof.server.app import create_app
        from fleetproof.server.config import ServerSettings
        from fleetproof.server.runner import build_context

        self.now = START_S
        self.ctx = build_context(ServerSettings(db=db_url, admin_token=ADMIN_TOKEN, background=False))
        self.ctx.clock = lambda: self.now
        self._client = TestClient(create_app(self.ctx), raise_server_exceptions=True)
        self.client = self._client.__enter__()

    def close(self) -> None:
        self._client.__exit__(None, None, None)
        self.ctx.db.dispose()

    def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = self.client.request(method, path, **kw)
        if r.status_code != expect:
            raise SystemExit(f"{method} {path}: HTTP {r.status_code}: {r.text[:500]}")
        return r.json()


def register(server: Server, zones: list[dict[str, Any]], positions: dict[str, tuple[float, float]]) -> dict:
    """Zones, and every landmark with a fresh key and its signed position statement."""
    from fleetproof.probe.keys import public_key_b64
    from fleetproof.probe.statement import sign_statement

    for z in zones:
        server.call("POST", "/api/v1/zones", 201, json=z, headers=ADMIN)
    keys = {}
    for lm_id, (lat, lon) in positions.items():
        key = Ed25519PrivateKey.generate()
        st = sign_statement(key, landmark_id=lm_id, lat=lat, lon=lon, time=server.now)
        body = {"id": lm_id, "lat": lat, "lon": lon, "address": "127.0.0.1:7400"}
        body |= {"public_key": public_key_b64(key), "statement": st.model_dump(mode="json")}
        server.call("POST", "/api/v1/landmarks", 201, json=body, headers=ADMIN)
        keys[lm_id] = key
    return keys


def enroll(server: Server, host: Host) -> None:
    from fleetproof.probe.keys import public_key_b64

    token = server.call(
        "POST",
        "/api/v1/enrollment-tokens",
        201,
        json={"zone": host.zone, "device_id": host.device_id},
        headers=ADMIN,
    )["token"]
    inventory = {"time": server.now, "host": {"hostname": host.device_id}, "accelerators": []}
    body = {"public_key": public_key_b64(host.key), "inventory": inventory}
    got = server.call("POST", "/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"})
    assert got["device_id"] == host.device_id, got


def send_round(
    server: Server,
    host: Host,
    keys: dict[str, Ed25519PrivateKey],
    positions: dict[str, tuple[float, float]],
    delay: DelayPlan,
    jitter_ms: float,
    rng: np.random.Generator,
) -> None:
    """One signed record per landmark, RTTs modelled from where the host really is, plus jitter."""
    from fleetproof.probe.keys import public_key_b64
    from fleetproof.probe.records import sign_record
    from fleetproof.protocol.reqsign import sign_request

    items = []
    device_key = public_key_b64(host.key)
    for lm_id in host.landmarks:
        lat, lon = positions[lm_id]
        rtt = float(delay.rtt_ms(float(distance_km(host.lat, host.lon, lat, lon))))
        samples = [round(rtt + float(rng.uniform(0.0, jitter_ms)), 4) for _ in range(3)]
        host.rtts_ms[lm_id] = min(samples)
        rec = sign_record(
            key=keys[lm_id],
            device_id=host.device_id,
            device_public_key=device_key,
            landmark_id=lm_id,
            session_id=uuid.uuid4().hex[:16],
            samples_ms=samples,
            lost=0,
            time=server.now,
        )
        items.append(
            {
                "id": str(uuid.uuid4()),
                "kind": "probe_record",
                "created_at": server.now,
                "payload": rec.model_dump(mode="json"),
            }
        )
    raw = json.dumps({"items": items}).encode()
    headers = sign_request(host.key, host.device_id, "POST", "/api/v1/ingest", raw, now=server.now)
    headers["content-type"] = "application/json"
    got = server.call("POST", "/api/v1/ingest", content=raw, headers=headers)
    if got.get("rejected"):
        raise SystemExit(f"ingest rejected records of {host.device_id}: {got['rejected'][:3]}")


def judge_all(server: Server) -> int:
    """Let the debounce pass and run the server's verdict pipeline until the queue is empty."""
    from fleetproof.server.pipeline import process_queue

    server.now += server.ctx.settings.verdict_debounce_s + 1.0
    done = 0
    while n := process_queue(server.ctx, now=server.now, limit=500):
        done += n
    return done


def _evidence_summary(evidence: dict[str, Any]) -> dict[str, Any]:
    """The parts of a verdict's evidence that say why it is not ``proven``."""
    skip = {"rtts_ms", "relocation", "peers", "suspicious_persistence", "claim"}
    return {k: v for k, v in evidence.items() if k not in skip}


def mismatch(server: Server, host: Host, plan_site: dict[str, Any], verdict: str | None) -> dict[str, Any]:
    """Why a site the plan calls provable was not proven: its evidence and its proof budgets."""
    history = server.call("GET", f"/api/v1/devices/{host.device_id}/verdicts?limit=1", headers=ADMIN)
    evidence = history[0]["evidence"] if history else {}
    unmeasured, over, raised, extra = [], [], 0, 0.0
    for lm in plan_site["landmarks"]:
        sid = server_id(lm["landmark"])
        got, budget = host.rtts_ms.get(sid), lm["budget_rtt_ms"]
        if got is None:
            unmeasured.append(sid)
            continue
        raised += got > lm["modelled_rtt_ms"] + 1e-3  # the plan rounds RTTs to 0.1 µs
        extra = max(extra, got - lm["modelled_rtt_ms"])
        if budget is not None and got > budget:
            over.append({"landmark": sid, "rtt_ms": got, "budget_rtt_ms": budget})
    joint = plan_site.get("joint_budget_ms")
    if unmeasured:
        reason = REASON_UNMEASURED
    elif over:
        reason = REASON_OVER_BUDGET
    elif raised >= 2 and joint is not None and extra > joint + 1e-3:
        reason = REASON_JOINT
    else:
        reason = REASON_WITHIN_BUDGET
    return {
        "site": host.site,
        "zone": host.zone,
        "lat": host.lat,
        "lon": host.lon,
        "border_km": plan_site["border_km"],
        "verdict": verdict,
        "reason": reason,
        "proof_landmarks_not_measured": unmeasured,
        "budget_exceeded": over,
        "joint_budget_ms": joint,
        "largest_extra_ms": round(extra, 4),
        "proof_landmarks": plan_site["landmarks"],
        "evidence": _evidence_summary(evidence),
    }


def serve_and_judge(
    fleet: Fleet, plan: dict[str, Any], hosts: list[Host], positions: dict[str, Any], folder: Path, args: Any
) -> tuple[dict[str, str | None], list[dict[str, Any]], dict[str, float]]:
    """Everything through the server: verdicts by device, mismatches, and how long each part took."""
    rng = np.random.default_rng(args.seed + 2)
    t0 = time.perf_counter()
    server = Server(f"sqlite:///{folder}/server.db")
    try:
        keys = register(server, fleet.zones, positions)
        for h in hosts:
            enroll(server, h)
        for h in hosts:
            send_round(server, h, keys, positions, DelayPlan(), args.jitter_ms, rng)
        t1 = time.perf_counter()
        judged = judge_all(server)
        t2 = time.perf_counter()
        listed = server.call("GET", "/api/v1/devices?limit=100000", headers=ADMIN)
        verdicts = {d["id"]: d.get("verdict") for d in listed}
        by_site = {s["site"]: s for s in plan["sites"]}
        misses = [
            mismatch(server, h, by_site[h.site], verdicts.get(h.device_id))
            for h in hosts
            if not h.moved and verdicts.get(h.device_id) != "proven"
        ]
    finally:
        server.close()
    return verdicts, misses, {"ingest_s": t1 - t0, "pipeline_s": t2 - t1, "verdicts": judged}


@dataclass(frozen=True)
class Options:
    sites: int
    seed: int
    jitter_ms: float
    measure: int = 8
    moved_km: float = 50.0
    workers: int = 2
    nearest_only: bool = False


def run(options: Options, countries: tuple[str, ...] = COUNTRIES) -> dict[str, Any]:
    """The whole check; returns the figures (see :func:`table`)."""
    o = options
    if o.sites < 1 or o.jitter_ms < 0 or o.measure < 3 or o.moved_km <= 0:
        raise SystemExit("need sites ≥ 1, jitter ≥ 0, measure ≥ 3 (the engine needs three) and moved-km > 0")
    fleet = make_fleet(o.sites, o.seed, countries)
    with tempfile.TemporaryDirectory(prefix="fleetproof-e2e-") as tmp:
        plan, summary, plan_s = run_planner(fleet, Path(tmp), o.workers)
        hosts, positions = make_hosts(plan, fleet, o.measure, o.moved_km, o.seed, o.nearest_only)
        verdicts, misses, timing = serve_and_judge(fleet, plan, hosts, positions, Path(tmp), o)
    return {
        "options": {**o.__dict__},
        "jitter": "each of 3 samples per record is the modelled RTT + U(0, jitter_ms); the record's RTT "
        "is their minimum",
        "moved_km": o.moved_km,
        "delay_model": plan["settings"]["delay_model"],
        "sites": o.sites,
        "countries": len({s["country"] for s in fleet.sites}),
        "plan_summary": plan["summary"],
        "plan_text": summary,
        "plan_s": round(plan_s, 1),
        "landmarks_registered": len(positions),
        "devices": len(hosts),
        "records": sum(len(h.landmarks) for h in hosts),
        "ingest_s": round(timing["ingest_s"], 1),
        "verdicts": timing["verdicts"],
        "pipeline_s": round(timing["pipeline_s"], 1),
        **figures(fleet, plan, hosts, verdicts, misses),
    }


def figures(
    fleet: Fleet,
    plan: dict[str, Any],
    hosts: list[Host],
    verdicts: dict[str, str | None],
    misses: list[dict[str, Any]],
) -> dict[str, Any]:
    """Plan against server: overall, by kind of nearest outline, for metro proofs, for moved hosts."""
    honest = [h for h in hosts if not h.moved]
    moved = [h for h in hosts if h.moved]
    proven = {h.device_id for h in hosts if verdicts.get(h.device_id) == "proven"}
    kinds = outline_kinds(fleet.sites)
    by_kind = {
        kind: {
            "sites": sum(kinds[s["id"]] == kind for s in fleet.sites),
            "provable_per_plan": sum(kinds[h.site] == kind for h in honest),
            "proven_per_server": sum(kinds[h.site] == kind and h.device_id in proven for h in honest),
        }
        for kind in ("coast", "land border")
    }
    for m in misses:
        m["nearest_outline"] = kinds[m["site"]]
    added = {a["id"] for a in plan["added_landmarks"]}
    by_site = {s["site"]: s for s in plan["sites"]}
    in_metro = [
        h
        for h in honest
        if sum(
            lm["landmark"] in added and lm["distance_km"] <= METRO_KM for lm in by_site[h.site]["landmarks"]
        )
        >= 2
    ]
    n_proven = sum(h.device_id in proven for h in honest)
    return {
        "by_nearest_outline": by_kind,
        "provable_per_plan": len(honest),
        "proved_by_two_added_in_metro": len(in_metro),
        "proven_per_server_of_those": sum(h.device_id in proven for h in in_metro),
        "proven_per_server": n_proven,
        "ratio": round(n_proven / len(honest), 4) if honest else None,
        "server_verdicts_of_provable": dict(Counter(str(verdicts.get(h.device_id)) for h in honest)),
        "moved_hosts": len(moved),
        "moved_verdicts": dict(Counter(str(verdicts.get(h.device_id)) for h in moved)),
        "false_proven": sum(h.device_id in proven for h in moved),
        "false_proven_hosts": [
            {"site": h.site, "zone": h.zone, "lat": h.lat, "lon": h.lon, "rtts_ms": h.rtts_ms}
            for h in moved
            if h.device_id in proven
        ],
        "mismatch_reasons": dict(Counter(m["reason"] for m in misses)),
        "mismatches": misses,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("sites", result["sites"]),
        ("countries", result["countries"]),
        ("provable per plan", result["provable_per_plan"]),
        (
            f"  of which proof by two added ≤ {METRO_KM:g} km: plan / server",
            f"{result['proved_by_two_added_in_metro']} / {result['proven_per_server_of_those']}",
        ),
        ("proven per server", result["proven_per_server"]),
        ("ratio", result["ratio"]),
        *(
            (
                f"  nearest outline {k}: sites / provable / proven",
                f"{v['sites']} / {v['provable_per_plan']} / {v['proven_per_server']}",
            )
            for k, v in result["by_nearest_outline"].items()
        ),
        ("server verdicts (provable sites)", result["server_verdicts_of_provable"]),
        (f"hosts moved ≥ {result['moved_km']:g} km out", result["moved_hosts"]),
        ("their verdicts", result["moved_verdicts"]),
        ("false proven", result["false_proven"]),
        ("landmarks registered", result["landmarks_registered"]),
        ("signed records ingested", result["records"]),
        (
            "plan / ingest / pipeline, s",
            f"{result['plan_s']} / {result['ingest_s']} / {result['pipeline_s']}",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    for m in result["mismatches"]:
        lines.append(
            f"  not proven: {m['site']} ({m['zone']}, {m['border_km']} km from outline): {m['verdict']}, "
            f"{m['reason']}; evidence {json.dumps(m['evidence'])[:300]}"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jitter", type=float, default=0.02, help="max jitter per sample, ms (0.02)")
    parser.add_argument(
        "--measure", type=int, default=8, help="with --nearest-only: how many nearest landmarks (8)"
    )
    parser.add_argument(
        "--nearest-only",
        action="store_true",
        help="measure the --measure nearest landmarks instead of the plan's list for the site",
    )
    parser.add_argument("--moved-km", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=2, help="planner processes (2)")
    parser.add_argument("--out", type=Path, default=Path("plan_fleet_e2e.json"))
    args = parser.parse_args()
    result = run(
        Options(
            args.sites, args.seed, args.jitter, args.measure, args.moved_km, args.workers, args.nearest_only
        )
    )
    sys.stdout.write(table(result))
    from fleetproof.files import atomic_open

    with atomic_open(args.out) as f:
        f.write(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
