"""How the engine's cost grows with targets, landmarks and region size (in-process, CPU seconds).

Synthetic landmarks and targets at random land positions, RTTs from distance at a
given speed; every target gets a point claim and a country claim. Times are
process CPU seconds (steadier than wall time on a shared machine); each table's
first row is its own baseline.

    PYTHONPATH=src python benchmarks/engine_scaling.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from verify_throughput import land_points

from fleetproof.geo import Claim, Landmark, Verifier, distance_km
from fleetproof.geodata import load_countries


def setup(
    n_t: int, n_l: int, km_per_ms: float, seed: int = 7
) -> tuple[Verifier, np.ndarray, list[tuple[int, Claim]]]:
    rng = np.random.default_rng(seed)
    llat, llon, _ = land_points(rng, n_l)
    tlat, tlon, tcc = land_points(rng, n_t)
    lms = [Landmark(f"L{i}", float(a), float(b)) for i, (a, b) in enumerate(zip(llat, llon, strict=True))]
    d = distance_km(tlat[:, None], tlon[:, None], llat[None, :], llon[None, :])
    rtt = d / km_per_ms + rng.exponential(1.0, d.shape) + 0.5
    claims = []
    for i in range(n_t):
        claims.append((i, Claim.point(f"p{i}", f"t{i}", float(tlat[i]), float(tlon[i]))))
        claims.append((i, Claim.country(f"c{i}", f"t{i}", tcc[i])))
    return Verifier(lms, load_countries()), rtt, claims


def cpu(n_t: int, n_l: int, km_per_ms: float, with_claims: bool = True) -> float:
    v, rtt, claims = setup(n_t, n_l, km_per_ms)
    t0 = time.process_time()
    v.verify_matrix([f"t{i}" for i in range(n_t)], rtt, claims if with_claims else [])
    return time.process_time() - t0


def table(title: str, rows: list[tuple[str, float, int]]) -> None:
    print(title)
    base = rows[0][1] / rows[0][2]
    for label, seconds, n in rows:
        per = seconds / n
        print(
            f"  {label:<28} {seconds:6.2f} s CPU  {n / seconds:8,.0f} targets/s  "
            f"x{per / base:5.2f} per target"
        )


def main() -> None:
    load_countries()
    table(
        "targets (100 landmarks, 50 km/ms, point + country claim each):",
        [(f"{n:,} targets", cpu(n, 100, 50.0), n) for n in (1000, 2000, 4000, 8000)],
    )
    table(
        "landmarks (2,000 targets, 50 km/ms):",
        [(f"{n} landmarks", cpu(2000, n, 50.0), 2000) for n in (25, 50, 100, 200, 400)],
    )
    table(
        "region size (2,000 targets, 100 landmarks; slower paths = bigger disks):",
        [(f"{s:.0f} km per ms of RTT", cpu(2000, 100, s), 2000) for s in (90.0, 50.0, 25.0, 12.0)],
    )
    table(
        "estimates only vs with claims (2,000 targets, 100 landmarks):",
        [
            ("estimates only", cpu(2000, 100, 50.0, False), 2000),
            ("point + country claim", cpu(2000, 100, 50.0), 2000),
        ],
    )


if __name__ == "__main__":
    main()
