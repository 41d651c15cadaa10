"""CPU cost of the estimate step, a claim-free verification and a calibration, against a baseline tree.

Each configuration runs in its own process (so two source trees never share an import), alternating
between this tree and ``--baseline-src`` when given; the figures are process CPU seconds, best of three
runs per process, which is steadier than wall time on a shared machine.

    PYTHONPATH=src python benchmarks/engine_cost.py [--baseline-src OLD/src] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS, LANDMARKS, CHUNK = 5000, 100, 256


def measure() -> dict[str, float]:
    """Run in a child: time this process's fleetproof (first on sys.path)."""
    sys.path.insert(0, str(HERE))
    from engine_data import load_dev
    from engine_scaling import setup

    from fleetproof.geo import calibrate, vet_landmarks
    from fleetproof.geodata import load_countries

    v, rtt, _ = setup(TARGETS, LANDMARKS, 66.0)
    v.estimate_matrix(rtt[:50])
    ids = [f"t{i}" for i in range(TARGETS)]
    servers, mesh = load_dev()
    countries = load_countries()
    report = vet_landmarks(servers, mesh)
    trusted = [s for s in servers if s.id in set(report.trusted)]
    calibrate(trusted, mesh, countries=countries)
    best = {"estimate_s": 1e9, "verify_s": 1e9, "calibrate_s": 1e9}
    for _ in range(3):
        t = time.process_time()
        for lo in range(0, TARGETS, CHUNK):
            v.estimate_matrix(rtt[lo : lo + CHUNK])
        best["estimate_s"] = min(best["estimate_s"], time.process_time() - t)
        t = time.process_time()
        v.verify_matrix(ids, rtt, [])
        best["verify_s"] = min(best["verify_s"], time.process_time() - t)
        t = time.process_time()
        calibrate(trusted, mesh, countries=countries)
        best["calibrate_s"] = min(best["calibrate_s"], time.process_time() - t)
    return best


def run(src: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-src", type=Path, help="another src/ folder (e.g. of an older commit)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure()))
        return
    trees = [("this tree", HERE.parent / "src")]
    if a.baseline_src:
        trees.insert(0, ("baseline", a.baseline_src.resolve()))
    print(f"{TARGETS} targets x {LANDMARKS} landmarks (estimate in chunks of {CHUNK}); calibration: dev mesh")
    for _ in range(a.rounds):
        for name, src in trees:
            r = run(src)
            load = os.getloadavg()[0]
            print(
                f"  {name:<10} estimate {r['estimate_s']:.3f} s  verify (no claims) {r['verify_s']:.3f} s  "
                f"calibrate {r['calibrate_s']:.3f} s  (load {load:.1f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
