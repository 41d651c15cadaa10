"""False alarms and proofs on honest claims, and detection of hosts that add delay (WonderProxy dev set).

Leave-one-out, as ``engine_accuracy.py``: every trusted server in turn is the target, the
others are its landmarks and calibrate the delay model without it. Per target:

- its own country (honest): verdict, and whether it is flagged ``suspicious``;
- its own position (honest point claim): flagged or not;
- impersonation by added delay: the target claims the position of another server ``s``
  200–3000 km away and delays its replies so that each RTT is at least what ``s`` itself
  measured to that landmark (the mesh RTT) — the best a host can do to look like ``s``,
  as it can add delay but never remove it. Flagged means ``violation`` or ``suspicious``.

The same protocol runs on this tree and, with ``--baseline-src``, on another ``src/`` folder
(e.g. the commit before a change), each in its own interpreter, in the same run:

    PYTHONPATH=src python benchmarks/engine_false_alarms.py --baseline-src OLD/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def measure(data: Path) -> dict[str, Any]:
    """The protocol on the engine importable here; counts and rates as a JSON-able dict."""
    import numpy as np
    from engine_data import load_dev

    from fleetproof.geo import Claim, Verifier, calibrate, distance_km, vet_landmarks
    from fleetproof.geo.landmarks import LandmarkSet
    from fleetproof.geo.vetting import mesh_matrix
    from fleetproof.geodata import load_countries

    t0 = time.perf_counter()
    servers, mesh = load_dev(data)
    countries = load_countries()
    report = vet_landmarks(servers, mesh)
    trusted = [s for s in servers if s.id in set(report.trusted)]
    allset = LandmarkSet(trusted)
    full = mesh_matrix(allset, mesh)
    out: dict[str, Any] = {
        "targets": 0,
        "country_claims": 0,
        "country_suspicious": 0,
        "country_proven": 0,
        "country_violation": 0,
        "country_proven_and_suspicious": 0,
        "point_suspicious": 0,
        "impersonations": 0,
        "impersonations_flagged": 0,
        "close_targets": 0,
        "close_targets_flagged": 0,
        "verify_s": 0.0,
    }
    for k, t in enumerate(trusted):
        others = [s for s in trusted if s.id != t.id]
        keep = np.arange(len(trusted)) != k
        inner = [m for m in mesh if t.id not in (m.a, m.b) and m.a in allset.index and m.b in allset.index]
        model = calibrate(others, inner, countries=countries)
        v = Verifier(others, countries, model=model)
        row = full[k, keep]
        claims = [Claim.point("self", t.id, t.lat, t.lon)]
        if t.country:
            claims.append(Claim.country("country", t.id, t.country))
        fakes = []
        for j, s in enumerate(trusted):
            d = float(distance_km(s.lat, s.lon, t.lat, t.lon))
            if j != k and 200.0 <= d <= 3000.0:
                fakes.append((j, s))
        rows = [row]
        pairs = [(0, c) for c in claims]
        for j, s in fakes[:: max(1, len(fakes) // 5)]:  # up to about five impersonations per target
            mimic = np.fmax(row, full[j, keep])  # delay added so that every RTT is at least s's own
            rows.append(mimic)
            pairs.append((len(rows) - 1, Claim.point(f"as-{s.id}", t.id, s.lat, s.lon)))
        ts = time.perf_counter()
        res = v.verify_matrix([t.id] * len(rows), np.array(rows), pairs)
        out["verify_s"] += time.perf_counter() - ts
        out["targets"] += 1
        by = {r.claim: r for r in res}
        out["point_suspicious"] += bool(by["self"].suspicious)
        nearest = float(np.nanmin(row))
        if nearest < 1.0:
            out["close_targets"] += 1
            out["close_targets_flagged"] += bool(
                by["self"].suspicious or by.get("country", by["self"]).suspicious
            )
        if "country" in by:
            r = by["country"]
            out["country_claims"] += 1
            out["country_suspicious"] += bool(r.suspicious)
            out["country_proven"] += r.verdict == "proven"
            out["country_violation"] += r.verdict == "violation"
            out["country_proven_and_suspicious"] += bool(r.verdict == "proven" and r.suspicious)
        for r in res:
            if r.claim and r.claim.startswith("as-"):
                out["impersonations"] += 1
                out["impersonations_flagged"] += bool(r.verdict == "violation" or r.suspicious)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["verify_s"] = round(out["verify_s"], 2)
    return out


def run_tree(src: Path, data: Path) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter that imports fleetproof from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--data", str(data)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    doc: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc


def main() -> None:
    from engine_data import DEFAULT_DATA

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--baseline-src", type=Path, help="another src/ folder measured in the same run")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(measure(a.data)))
        return
    trees = [("this tree", HERE.parent / "src")]
    if a.baseline_src:
        trees.insert(0, ("baseline", a.baseline_src))
    print(f"load {os.getloadavg()[0]:.1f}")
    header = (
        "| tree | honest country claims | suspicious | proven | proven and suspicious | violation "
        "| honest points suspicious | nearest RTT < 1 ms: flagged | impersonations flagged | verify time |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for name, src in trees:
        r = run_tree(src, a.data)
        n, p = r["country_claims"], r["targets"]
        print(
            f"| {name} | {n} | {r['country_suspicious']} ({r['country_suspicious'] / n:.1%}) "
            f"| {r['country_proven']} | {r['country_proven_and_suspicious']} | {r['country_violation']} "
            f"| {r['point_suspicious']} / {p} ({r['point_suspicious'] / p:.1%}) "
            f"| {r['close_targets_flagged']} / {r['close_targets']} "
            f"| {r['impersonations_flagged']} / {r['impersonations']} "
            f"({r['impersonations_flagged'] / max(r['impersonations'], 1):.1%}) "
            f"| {r['verify_s']:.1f} s ({r['seconds']:.0f} s in all) |"
        )


if __name__ == "__main__":
    main()
