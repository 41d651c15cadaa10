"""Country claims of targets near a border: what the grid decides, and what refinement adds.

Random targets within ``--near`` degrees of a country's boundary (on land: the true
country is the one whose polygon holds the point), each with four landmarks within
``--spread`` degrees and RTTs at most 10 % + 0.2 ms above the physical minimum, claim the
country whose boundary they were drawn near. About half of them lie inside it (a true
claim), the rest across the border (a false one). Every claim is verified twice, on the
0.5° grid alone (``refine_depth=0``) and with the default refinement, and the verdicts
are counted for true and false claims apart. Soundness is printed too: a true claim must
never be a ``violation``, a false one never ``proven``.

    PYTHONPATH=src python benchmarks/engine_borders.py [--claims 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from fleetproof.geo import Claim, Landmark, SpeedModel, Verifier, distance_km
from fleetproof.geo.refine import Shape
from fleetproof.geodata import load_countries, load_country_edges


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--claims", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--near", type=float, default=0.3, help="targets within this many degrees of a boundary")
    ap.add_argument(
        "--spread", type=float, default=0.5, help="landmarks within this many degrees of the target"
    )
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    countries = load_countries()
    edges = load_country_edges()
    codes = sorted(c for c in edges if c in countries.areas and edges[c].shape[0] >= 20)
    shapes = {c: Shape.build(countries.grid, edges[c]) for c in codes}
    boxes = {
        c: (
            min(e[:, 0].min(), e[:, 2].min()),
            max(e[:, 0].max(), e[:, 2].max()),
            min(e[:, 1].min(), e[:, 3].min()),
            max(e[:, 1].max(), e[:, 3].max()),
        )
        for c, e in edges.items()
        if c in shapes
    }
    km_per_ms = SpeedModel().v_max_km_per_ms / 2.0
    cases: list[tuple[str, bool, list[Landmark], dict[str, float]]] = []
    while len(cases) < a.claims:
        code = codes[int(rng.integers(len(codes)))]
        x1, y1, x2, y2 = edges[code][int(rng.integers(edges[code].shape[0]))]
        s = rng.uniform()
        lat = float(np.clip(y1 + s * (y2 - y1) + rng.uniform(-a.near, a.near), -85.0, 85.0))
        lon = float(x1 + s * (x2 - x1) + rng.uniform(-a.near, a.near))
        lon = (lon + 180.0) % 360.0 - 180.0
        holders = [
            c
            for c, (bx0, bx1, by0, by1) in boxes.items()
            if bx0 <= lon <= bx1
            and by0 <= lat <= by1
            and shapes[c].inside(np.array([lon]), np.array([lat]))[0]
        ]
        if len(holders) != 1:  # at sea, or where polygons overlap: no single true country
            continue
        lms = [
            Landmark(
                f"L{k}",
                float(np.clip(lat + rng.uniform(-a.spread, a.spread), -89.0, 89.0)),
                float((lon + rng.uniform(-a.spread, a.spread) + 180.0) % 360.0 - 180.0),
            )
            for k in range(4)
        ]
        rtts = {
            lm.id: float(distance_km(lat, lon, lm.lat, lm.lon)) / km_per_ms * rng.uniform(1.0, 1.1)
            + rng.uniform(0.0, 0.2)
            for lm in lms
        }
        cases.append((code, holders[0] == code, lms, rtts))
    n_true = sum(1 for _, truth, _, _ in cases if truth)
    print(
        f"{len(cases)} country claims near a boundary ({n_true} true, {len(cases) - n_true} false), "
        f"targets within {a.near}° of it, four landmarks within {a.spread}°"
    )
    for label, depth in (("grid only", 0), ("refined", None)):
        t0 = time.perf_counter()
        counts: Counter[tuple[bool, str]] = Counter()
        for code, truth, lms, rtts in cases:
            v = Verifier(lms, countries) if depth is None else Verifier(lms, countries, refine_depth=depth)
            [r] = v.verify(rtts, [Claim.country("c", "t", code)])
            counts[(truth, r.verdict)] += 1
        wall = time.perf_counter() - t0
        for truth in (True, False):
            row = ", ".join(
                f"{counts[(truth, v)]} {v}" for v in ("violation", "consistent", "proven", "unknown")
            )
            print(f"  {label:9s} {'true' if truth else 'false'} claims: {row}")
        print(
            f"  {label:9s} soundness: true claims called violation {counts[(True, 'violation')]}, "
            f"false claims called proven {counts[(False, 'proven')]}; {wall:.1f} s"
        )


if __name__ == "__main__":
    main()
