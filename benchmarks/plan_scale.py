"""``fleetproof plan`` at fleet scale: 10,000 sites, 200 landmarks, the bundled 1,290 candidate metros.

The fleet comes from ``plan_data.write_fleet`` (sites and landmarks where people live, each site's
zone its country). The plan runs as an operator would run it, as a ``fleetproof plan`` process; its
wall time and CPU time (itself and its workers) are measured. The baseline, in the same run, is the
engine alone giving each site one verdict with all existing landmarks at their modelled RTTs
(``Verifier.verify_matrix`` over the whole fleet in this process) — the least a plan can cost.

``PYTHONPATH=src python benchmarks/plan_scale.py [--sites 10000] [--landmarks 200] [--workers N]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_data import write_fleet

from fleetproof.batch.csvio import read_landmarks
from fleetproof.geo import Verifier, distance_km
from fleetproof.geodata import load_countries
from fleetproof.plan.inputs import read_sites, read_zones
from fleetproof.plan.model import DelayPlan


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def baseline(paths: dict[str, Path]) -> tuple[float, float]:
    """Wall and CPU seconds for one engine verdict per site, every landmark, no pruning."""
    sites, landmarks, zones = (
        read_sites(paths["sites"]),
        read_landmarks(paths["landmarks"]),
        read_zones(paths["zones"]),
    )
    countries = load_countries()
    delay = DelayPlan()
    t0, c0 = time.perf_counter(), time.process_time()
    d = distance_km(
        np.array([s.lat for s in sites])[:, None],
        np.array([s.lon for s in sites])[:, None],
        np.array([lm.lat for lm in landmarks])[None, :],
        np.array([lm.lon for lm in landmarks])[None, :],
    )
    claims = []
    for i, s in enumerate(sites):
        c = zones[s.zone].claim(s.id)
        if c is not None:
            claims.append((i, c))
    Verifier(landmarks, countries).verify_matrix([s.id for s in sites], delay.rtt_ms(d), claims)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sites", type=int, default=10_000)
    ap.add_argument("--landmarks", type=int, default=200)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_fleet(Path(tmp), a.sites, a.landmarks, a.seed)
        load0 = os.getloadavg()[0]
        b_wall, b_cpu = baseline(paths)
        cmd = [
            sys.executable,
            "-m",
            "fleetproof",
            "plan",
            "--sites",
            str(paths["sites"]),
            "--landmarks",
            str(paths["landmarks"]),
            "--zones",
            str(paths["zones"]),
            "--out",
            str(Path(tmp) / "plan.json"),
        ]
        if a.workers:
            cmd += ["--workers", str(a.workers)]
        c0, t0 = _children_cpu(), time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
        load1 = os.getloadavg()[0]
        if done.returncode != 0:
            sys.exit(done.stderr)
        doc = json.loads((Path(tmp) / "plan.json").read_text(encoding="utf-8"))
    s = doc["summary"]
    print(done.stdout.strip())
    print(f"load average {load0:.1f} before, {load1:.1f} after; {os.cpu_count()} CPUs")
    print("| run | sites | wall | CPU | engine rows |")
    print("|---|---|---|---|---|")
    print(
        f"| engine, one verdict per site (baseline) | {a.sites:,} | {b_wall:.1f} s | {b_cpu:.1f} s "
        f"| {a.sites:,} |"
    )
    print(f"| fleetproof plan | {a.sites:,} | {wall:.1f} s | {cpu:.1f} s | {s['engine_rows']:,} |")
    print(
        f"plan / baseline: {wall / b_wall:.2f}× wall, {cpu / b_cpu:.2f}× CPU; "
        f"provable now {s['provable_now']}, with {s['added_landmarks']} added {s['provable_with_added']}, "
        f"not {s['not_provable']}"
    )


if __name__ == "__main__":
    main()
