"""Where the planner's default route inflation comes from: the WonderProxy mesh.

The landmarks are vetted with the engine (quarantined ones dropped: a mislocated server
makes a pair look faster than light). Each landmark's access delay is taken as the engine's
calibration estimates it (``geo.calibrate.access_delays``: half its smallest excess over the
physical minimum, in ms of RTT) and taken off both ends of every pair; what is left, over the
physical minimum ``2·d/v``, is the route's inflation. The planner uses a low percentile of it
among pairs 50–1,000 km apart (the distances of landmarks that prove a site).

``PYTHONPATH=src python benchmarks/plan_inflation.py [--data /work/shared/data/wonderproxy-dev]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from fleetproof.geo import LandmarkSet, SpeedModel, vet_landmarks
from fleetproof.geo.calibrate import access_delays
from fleetproof.geo.sphere import EARTH_RADIUS_KM
from fleetproof.geo.vetting import mesh_matrix
from fleetproof.plan.model import DEFAULT_INFLATION

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_data import DEFAULT_DATA, load_dev


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    a = ap.parse_args()
    landmarks, mesh = load_dev(a.data)
    report = vet_landmarks(landmarks, mesh)
    bad = {q.id for q in report.quarantined}
    trusted = LandmarkSet(lm for lm in landmarks if lm.id not in bad)
    rtt = mesh_matrix(trusted, mesh)
    dist = np.arccos(np.clip(trusted.vectors @ trusted.vectors.T, -1.0, 1.0)) * EARTH_RADIUS_KM
    speed = SpeedModel()
    acc = access_delays(rtt, dist, speed)
    iu = np.triu_indices(len(trusted), 1)
    r, d, both = rtt[iu], dist[iu], (acc[:, None] + acc[None, :])[iu]
    ok = np.isfinite(r) & (d >= 50.0)
    r, d, both = r[ok], d[ok], both[ok]
    minimum = 2.0 * d / speed.v_max_km_per_ms
    raw, net = r / minimum, (r - both) / minimum
    print(f"{len(landmarks)} servers, {len(bad)} quarantined, {int(ok.sum())} pairs ≥ 50 km")
    print("| pairs | n | raw RTT / minimum: p5, p10, p25 | access taken off: p5, p10, p25 |")
    print("|---|---|---|---|")
    for lo, hi in ((50, 500), (50, 1000), (50, 2000), (1000, 5000), (5000, 20100)):
        m = (d >= lo) & (d < hi)
        pr = ", ".join(f"{x:.2f}" for x in np.percentile(raw[m], [5, 10, 25]))
        pn = ", ".join(f"{x:.2f}" for x in np.percentile(net[m], [5, 10, 25]))
        print(f"| {lo:,}–{hi:,} km | {int(m.sum())} | {pr} | {pn} |")
    one_way = acc / 2.0
    print(
        "access delay per end, one-way (ms): p10 {:.3f}, p25 {:.3f}, median {:.3f}".format(
            *np.percentile(one_way, [10, 25, 50])
        )
    )
    m = d < 1000
    print(
        f"default inflation: p10 of 50–1,000 km pairs = {np.percentile(net[m], 10):.3f} "
        f"(DEFAULT_INFLATION = {DEFAULT_INFLATION})"
    )


if __name__ == "__main__":
    main()
