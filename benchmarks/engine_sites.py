"""What proving a country claim costs at sites with landmarks close by (two landmarks 5 km away).

Each site is a host with two landmarks 5 km from it (RTT 0.47 ms: a 46.9 km bound) and a
dozen far landmarks around the world (RTTs at 1.5× the physical minimum plus 1 ms). The
country claim is verified with refinement (the default depth) and, as the same-run
baseline, on grid cells alone (``refine_depth=0``); each claim is timed over ``--repeat``
runs on a warm verifier (the first use of a country's boundaries, which loads and indexes
every country's edges once per process, is timed apart).

    PYTHONPATH=src python benchmarks/engine_sites.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fleetproof.geo import Claim, DelayModel, Landmark, SpeedModel, Verifier, distance_km
from fleetproof.geodata import load_countries

KM_PER_MS = SpeedModel().v_max_km_per_ms / 2
FAR = [
    (51.52, -0.11),
    (50.08, 14.42),
    (40.73, -73.65),
    (32.78, -96.80),
    (37.35, -121.95),
    (-15.79, -47.88),
    (-26.20, 28.05),
    (24.95, 55.33),
    (18.52, 73.85),
    (22.30, 114.17),
    (35.67, 139.82),
    (-35.31, 149.12),
]
SITES = [
    ("Ashburn", 39.04, -77.49, "US"),
    ("Tokyo", 35.68, 139.76, "JP"),
    ("Frankfurt", 50.11, 8.68, "DE"),
    ("Baltimore", 39.29, -76.61, "US"),
    ("Kansas City", 39.10, -94.58, "US"),
    ("Osaka", 34.69, 135.50, "JP"),
    ("Hamburg", 53.55, 9.99, "DE"),
    ("Nuremberg", 49.45, 11.08, "DE"),
    ("San Francisco", 37.77, -122.42, "US"),
    ("Saarbruecken", 49.23, 7.00, "DE"),
]


def towards(lat: float, lon: float, km: float, bearing_deg: float) -> tuple[float, float]:
    la, lo, b, d = np.radians(lat), np.radians(lon), np.radians(bearing_deg), km / 6371.0088
    la2 = np.arcsin(np.sin(la) * np.cos(d) + np.cos(la) * np.sin(d) * np.cos(b))
    lo2 = lo + np.arctan2(np.sin(b) * np.sin(d) * np.cos(la), np.cos(d) - np.sin(la) * np.sin(la2))
    return float(np.degrees(la2)), float((np.degrees(lo2) + 540.0) % 360.0 - 180.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    countries = load_countries()
    t0 = time.perf_counter()
    if hasattr(countries, "coasts"):  # older trees have no waters
        countries.coasts()
    print(
        f"loading and indexing every country's boundary (once per process): {time.perf_counter() - t0:.2f} s"
    )
    head = "| site | claim | verdict (grid only) | ms/claim | verdict (refined) | ms/claim | blocked by |"
    print(head)
    print("|---|---|---|---|---|---|---|")
    for name, lat, lon, code in SITES:
        near = [Landmark(f"near{k}", *towards(lat, lon, 5.0, 90.0 + 180.0 * k)) for k in range(2)]
        far = [Landmark(f"far{k}", x, y) for k, (x, y) in enumerate(FAR) if distance_km(x, y, lat, lon) > 300]
        rtts = {lm.id: float(distance_km(lat, lon, lm.lat, lm.lon)) / KM_PER_MS * 1.5 + 1.0 for lm in far}
        rtts.update({lm.id: 0.47 for lm in near})
        claim = [Claim.country("c", name, code)]
        row = []
        for depth in (0, 3):
            v = Verifier(near + far, countries, model=DelayModel.default(), refine_depth=depth)
            [r] = v.verify(rtts, claim)  # warm: the claim's cells and boundary are built once
            t0 = time.perf_counter()
            for _ in range(a.repeat):
                [r] = v.verify(rtts, claim)
            row.append((r, 1e3 * (time.perf_counter() - t0) / a.repeat))
        (g, tg), (f, tf) = row
        blocked = ", ".join(
            f"{b.get('country', b['kind'])} {b['share']:.0%}" if "share" in b else b["kind"]
            for b in f.evidence.get("blocked_by", [])
        )
        print(f"| {name} | {code} | {g.verdict} | {tg:.1f} | {f.verdict} | {tf:.1f} | {blocked} |")


if __name__ == "__main__":
    main()
