"""How estimate accuracy grows with the number of landmarks (WonderProxy dev set).

The leave-one-out protocol of ``engine_accuracy.py``, but with only a random share
of the trusted servers available as landmarks: every trusted server is still a
target, located from the available servers other than itself, with the delay model
calibrated on the mesh among exactly those. Each share is drawn with several seeds;
the table gives the mean over seeds and the range. A least-squares line through
(log2 landmarks, country correct) says what one more doubling of the landmark set
would give if the trend held: an extrapolation, printed as one.

    PYTHONPATH=src python benchmarks/engine_density.py [--data DIR] [--seeds N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_data import DEFAULT_DATA, load_dev

from fleetproof.geo import Landmark, MeshLink, SpeedModel, calibrate, distance_km, vet_landmarks
from fleetproof.geo.countries import CountryTable
from fleetproof.geo.estimate import estimate_batch
from fleetproof.geo.landmarks import LandmarkSet
from fleetproof.geo.vetting import mesh_matrix
from fleetproof.geodata import load_countries

SHARES = (0.35, 0.5, 0.71, 1.0)


def run_share(
    trusted: list[Landmark],
    mesh: list[MeshLink],
    available: np.ndarray,
    countries: CountryTable,
) -> tuple[np.ndarray, np.ndarray]:
    """Errors (km) and country hits of every trusted server located from the available others."""
    lms = LandmarkSet(trusted)
    rtt = mesh_matrix(lms, mesh)
    speed = SpeedModel()
    avail_idx = np.flatnonzero(available)
    shared = None  # one model serves every target that is not itself available
    errors, hits = [], []
    for t in range(len(trusted)):
        idx = avail_idx[avail_idx != t]
        if available[t] or shared is None:
            ids = {trusted[i].id for i in idx}
            model = calibrate(
                [trusted[i] for i in idx], [m for m in mesh if m.a in ids and m.b in ids], countries=countries
            )
            if not available[t]:
                shared = model
        else:
            model = shared
        ids_list = [trusted[i].id for i in idx]
        est = estimate_batch(
            rtt[t, idx][None, :],
            lms.vectors[idx],
            model.offsets_for(ids_list),
            model.scales_for(ids_list),
            model,
            speed,
            countries,
        )
        errors.append(float(distance_km(est.lat[0], est.lon[0], lms.lat[t], lms.lon[t])))
        code = countries.codes[int(est.country[0])] if est.country[0] >= 0 else None
        hits.append(code == trusted[t].country)
    return np.asarray(errors), np.asarray(hits)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seeds", type=int, default=10, help="random draws per share below 1")
    a = ap.parse_args()
    t0 = time.perf_counter()
    servers, mesh = load_dev(a.data)
    countries = load_countries()
    report = vet_landmarks(servers, mesh)
    trusted = [s for s in servers if s.id in set(report.trusted)]
    n = len(trusted)
    print(f"{n} trusted servers, every one a target; landmarks: a random share of the others")
    print(f"{'share':>6} {'landmarks':>9} {'median km':>15} {'p90 km':>7} {'country correct':>22}")
    xs, ys = [], []
    for share in SHARES:
        seeds = [0] if share >= 1.0 else list(range(1, a.seeds + 1))
        med, p90, cc = [], [], []
        for seed in seeds:
            available = np.zeros(n, dtype=bool)
            available[np.random.default_rng(seed).choice(n, round(share * n), replace=False)] = True
            err, hit = run_share(trusted, mesh, available, countries)
            med.append(np.median(err))
            p90.append(np.percentile(err, 90))
            cc.append(np.mean(hit))
            xs.append(np.log2(available.sum()))
            ys.append(np.mean(hit))
        spread = f" ({min(cc):.1%}–{max(cc):.1%})" if len(cc) > 1 else ""
        print(
            f"{share:>6.2f} {round(share * n):>9d} {np.mean(med):>7.0f} "
            f"({min(med):.0f}–{max(med):.0f}) {np.mean(p90):>7.0f} {np.mean(cc):>8.1%}{spread}",
            flush=True,
        )
    slope, intercept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
    print(
        f"country correct per doubling of the landmarks: {slope:+.1%} (least squares over all draws); "
        f"extrapolated to {2 * n} landmarks: {slope * np.log2(2 * n) + intercept:.1%}"
    )
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
