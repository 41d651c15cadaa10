"""The batched country/region path gives exactly the results of deciding each claim on its own.

``Verifier.batched = False`` is the straightforward reference: every area claim goes
through ``AreaVerdicts.one`` one at a time. Random fleets with honest, neighbouring and
far-away country claims, multi-country zones, operator regions, missing RTTs and
targets with almost no measurements must give the same JSON, field for field.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fleetproof.geo import Claim, Landmark, Verifier, distance_km
from fleetproof.geo.grid import Grid
from fleetproof.geodata import load_countries


def _fleet(
    seed: int, n_targets: int = 300, n_landmarks: int = 40
) -> tuple[Verifier, list[str], np.ndarray, list]:
    rng = np.random.default_rng(seed)
    countries = load_countries()
    land = np.flatnonzero(countries.cell_land_fraction > 0.5)
    # Landmarks and targets clustered in one part of the world, or spread over all of it.
    if seed % 2:
        land = land[np.abs(countries.grid.center_latlon(land)[0] - 48) < 15]
    lm_cells = rng.choice(land, n_landmarks)
    llat, llon = countries.grid.center_latlon(lm_cells)
    landmarks = [
        Landmark(f"L{i}", float(a), float(b)) for i, (a, b) in enumerate(zip(llat, llon, strict=True))
    ]
    t_cells = rng.choice(land, n_targets)
    tlat, tlon = countries.grid.center_latlon(t_cells)
    tlat = tlat + rng.uniform(-0.25, 0.25, n_targets)
    tlon = tlon + rng.uniform(-0.25, 0.25, n_targets)
    d = distance_km(tlat[:, None], tlon[:, None], llat[None, :], llon[None, :])
    rtt = d / rng.uniform(25, 99, d.shape) + rng.exponential(1.0, d.shape)
    rtt[rng.random(rtt.shape) < 0.3] = np.nan
    rtt[rng.random(n_targets) < 0.03] = np.nan  # a few targets with nothing
    codes = countries.codes
    region = {
        "type": "Polygon",
        "coordinates": [[[-10.0, 35.0], [30.0, 35.0], [30.0, 60.0], [-10.0, 60.0], [-10.0, 35.0]]],
    }
    names = [f"t{i}" for i in range(n_targets)]
    claims: list[tuple[int, Claim]] = []
    for i in range(n_targets):
        home = codes[int(countries.cell_country[t_cells[i]])]
        u = rng.random()
        if u < 0.5:
            claims.append((i, Claim.country(f"c{i}", names[i], home)))
        elif u < 0.7:
            claims.append((i, Claim.country(f"c{i}", names[i], codes[int(rng.integers(len(codes)))])))
        elif u < 0.8:
            claims.append((i, Claim.country(f"c{i}", names[i], home, codes[int(rng.integers(len(codes)))])))
        elif u < 0.9:
            claims.append((i, Claim.in_region(f"c{i}", names[i], region, "box")))
        else:
            claims.append((i, Claim.point(f"c{i}", names[i], float(tlat[i]), float(tlon[i]))))
        if rng.random() < 0.2:  # a second claim for the same target
            claims.append((i, Claim.country(f"d{i}", names[i], home)))
    return Verifier(landmarks, countries), names, rtt, claims


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batched_area_claims_equal_one_at_a_time(seed: int) -> None:
    verifier, names, rtt, claims = _fleet(seed)
    fast = [json.dumps(r.to_json()) for r in verifier.verify_matrix(names, rtt, claims)]
    reference = Verifier(verifier.landmarks.landmarks, verifier.countries)
    reference.batched = False
    slow = [json.dumps(r.to_json()) for r in reference.verify_matrix(names, rtt, claims)]
    assert fast == slow
    verdicts = {json.loads(r)["verdict"] for r in fast}
    assert {"consistent", "violation"} <= verdicts  # the random fleet exercises more than one branch


def test_cap_cells_many_equals_cap_cells() -> None:
    rng = np.random.default_rng(5)
    for res in (0.5, 2.0):
        grid = Grid(res)
        n = 600
        lat = rng.uniform(-90, 90, n)
        lat[:20] = rng.choice([-90.0, 90.0, 89.9, -89.9, 0.0], 20)
        lon = rng.uniform(-180, 180, n)
        lon[20:40] = rng.choice([-180.0, 180.0, 179.9, -179.9], 20)
        rad = np.exp(rng.uniform(np.log(1e-4), np.log(np.pi), n))
        stride = rng.integers(1, 20, n)
        stride[::3] = 1
        cells, owner = grid.cap_cells_many(lat, lon, rad, stride)
        for k in range(n):
            ref = grid.cap_cells(float(lat[k]), float(lon[k]), float(rad[k]), stride=int(stride[k]))
            assert np.array_equal(cells[owner == k], ref)


def test_row_threshold_exclusion_counts_equal_direct_ones() -> None:
    from fleetproof.geo.region import _excluded, count_outside
    from fleetproof.geo.sphere import unit_vectors

    rng = np.random.default_rng(9)
    grid = Grid(0.5)
    for _ in range(5):
        cells = np.sort(rng.choice(grid.n_cells, 5000, replace=False))
        vecs = unit_vectors(rng.uniform(-90, 90, 30), rng.uniform(-180, 180, 30)).reshape(-1, 3)
        rad = rng.uniform(0.0, np.pi, 30)
        rad[:3] = np.pi
        direct = count_outside(grid.centers[cells], grid.cell_margin(cells), vecs, rad)
        assert np.array_equal(_excluded(grid, cells, vecs, rad), direct)
