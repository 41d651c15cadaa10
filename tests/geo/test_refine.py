"""Refinement at the edges of the grid: constructed cases the grid alone leaves open.

A claimed box whose east side runs through the middle of a grid column, and three
landmarks at one place (so the tolerant region is one disk) whose disk stops between
that side and the column's far edge: on 0.5° cells the claim and the region share that
column, so the grid says ``consistent``; on sub-cells the exact geometry decides.
"""

from __future__ import annotations

import numpy as np

from fleetproof.geo import Claim, Landmark, SpeedModel, Verifier, distance_km
from fleetproof.geo.grid import Grid
from fleetproof.geo.raster import polygon_edges, rasterize
from fleetproof.geo.refine import Shape, _classify

SPEED = SpeedModel()
KM_PER_MS = SPEED.v_max_km_per_ms / 2


def box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, object]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def disk_landmarks(lat: float, lon: float) -> list[Landmark]:
    return [Landmark(f"L{i}", lat + 1e-4 * i, lon) for i in range(3)]


def rtts_for_radius(lms: list[Landmark], radius_km: float) -> dict[str, float]:
    return {lm.id: radius_km / KM_PER_MS for lm in lms}


CLAIM = box(5.0, 40.0, 10.1, 45.0)  # east side at 10.1°, inside the 10.0–10.5° column


def test_grid_consistent_but_refined_violation() -> None:
    lms = disk_landmarks(42.5, 12.0)
    reach_km = float(distance_km(42.5, 12.0, 42.5, 10.1))  # ~156 km to the claim's side
    rtts = rtts_for_radius(lms, reach_km - 15.0)  # the disk stops ~15 km short of it
    claim = Claim.in_region("r", "t", CLAIM, "box")
    [coarse] = Verifier(lms, refine_depth=0).verify(rtts, [claim])
    assert coarse.verdict == "consistent"
    [fine] = Verifier(lms).verify(rtts, [claim])
    assert fine.verdict == "violation"
    assert fine.evidence["refined"]["cells"] >= 1 and 1 <= fine.evidence["refined"]["depth"] <= 3
    assert fine.evidence["feasible_claim_cells"] >= 1  # the grid's cells, which refinement excluded


def test_disk_reaching_into_the_claim_stays_consistent() -> None:
    lms = disk_landmarks(42.5, 12.0)
    reach_km = float(distance_km(42.5, 12.0, 42.5, 10.1))
    rtts = rtts_for_radius(lms, reach_km + 2.0)  # 2 km into the claim: a true place of it
    [r] = Verifier(lms).verify(rtts, [Claim.in_region("r", "t", CLAIM, "box")])
    assert r.verdict == "consistent"


def test_grid_consistent_but_refined_proven() -> None:
    lms = disk_landmarks(42.5, 9.5)
    gap_km = float(distance_km(42.5, 9.5, 42.5, 10.1))  # ~49 km to the claim's east side
    rtts = rtts_for_radius(lms, gap_km - 15.0)
    claim = Claim.in_region("r", "t", CLAIM, "box")
    [coarse] = Verifier(lms, refine_depth=0).verify(rtts, [claim])
    assert coarse.verdict == "consistent"
    [fine] = Verifier(lms).verify(rtts, [claim])
    assert fine.verdict == "proven"
    assert fine.evidence["refined"]["cells"] >= 1
    # The same disk reaching past the side is not proven.
    [wide] = Verifier(lms).verify(rtts_for_radius(lms, gap_km + 2.0), [claim])
    assert wide.verdict == "consistent"


def test_refinement_in_the_batched_path_matches_one_at_a_time() -> None:
    lms = disk_landmarks(42.5, 9.5)
    gap_km = float(distance_km(42.5, 9.5, 42.5, 10.1))
    names = ["a", "b"]
    rtt = np.array([[(gap_km - 15.0) / KM_PER_MS] * 3, [(gap_km + 2.0) / KM_PER_MS] * 3])
    claims = [(0, Claim.in_region("r0", "a", CLAIM, "box")), (1, Claim.in_region("r1", "b", CLAIM, "box"))]
    fast = Verifier(lms)
    slow = Verifier(lms)
    slow.batched = False
    a = [r.to_json() for r in fast.verify_matrix(names, rtt, claims)]
    b = [r.to_json() for r in slow.verify_matrix(names, rtt, claims)]
    assert a == b
    assert [r["verdict"] for r in a] == ["proven", "consistent"]


def test_point_claims_are_exact() -> None:
    """A point 1 km outside two disks is a violation: points are tested exactly, not by cell."""
    lms = [Landmark("a", 0.0, 0.0), Landmark("b", 0.0, 2.0), Landmark("c", 30.0, 1.0)]
    claim = (0.0, 1.0)
    d = float(distance_km(*claim, 0.0, 0.0))
    bound = d / (1.0 + 0.006) - 1.0  # 1 km short, after the sphere's widening
    rtts = {"a": bound / KM_PER_MS, "b": bound / KM_PER_MS, "c": 100.0}
    [r] = Verifier(lms).verify(rtts, [Claim.point("p", "t", *claim)])
    assert r.verdict == "violation"


def test_country_claim_refined_at_a_border() -> None:
    """A target just across a border, with a tight disk: the neighbour's claim is refined away."""
    from fleetproof.geodata import load_countries

    countries = load_countries()
    # Geneva (CH), about 5 km from the French border; a 1.5 km disk around it.
    lms = disk_landmarks(46.2044, 6.1432)
    rtts = rtts_for_radius(lms, 1.5)
    claims = [Claim.country("fr", "t", "FR"), Claim.country("ch", "t", "CH")]
    coarse = {r.claim: r.verdict for r in Verifier(lms, countries, refine_depth=0).verify(rtts, claims)}
    fine = {r.claim: r for r in Verifier(lms, countries).verify(rtts, claims)}
    assert coarse["fr"] == "consistent"
    assert fine["fr"].verdict == "violation" and "refined" in fine["fr"].evidence
    # The estimate sits in a border cell, which the grid alone can never call full: refinement proves it.
    assert coarse["ch"] == "consistent"
    assert fine["ch"].verdict == "proven" and "refined" in fine["ch"].evidence
    one_by_one = Verifier(lms, countries)
    one_by_one.batched = False
    assert [r.to_json() for r in one_by_one.verify(rtts, claims)] == [r.to_json() for r in fine.values()]


def test_subcell_classification_is_conservative() -> None:
    """Sampled points: inside the polygon ⇒ the sub-cell is touched; outside ⇒ it is not full."""
    rng = np.random.default_rng(3)
    grid = Grid(0.5)
    for _ in range(10):
        n = int(rng.integers(3, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(0.2, 2.0, n)
        cx, cy = rng.uniform(-170, 170), rng.uniform(-80, 80)
        ring = [[cx + r[i] * np.cos(ang[i]), cy + r[i] * np.sin(ang[i])] for i in range(n)]
        ring.append(ring[0])
        edges = polygon_edges([ring])
        shape = Shape.build(grid, edges)
        size = 0.5 / 16
        x0 = np.floor(rng.uniform(cx - 2.5, cx + 2.5, 2000) / size) * size
        y0 = np.floor(rng.uniform(cy - 2.5, cy + 2.5, 2000) / size) * size
        cell = grid.cell_of(y0 + size / 2, x0 + size / 2)
        none, every = np.zeros(cell.size, dtype=bool), np.ones(cell.size, dtype=bool)
        touched, full = _classify(lambda s=shape: [s], none, every, cell, x0, y0, size)
        for _ in range(8):
            qx = x0 + rng.uniform(0, size, x0.size)
            qy = y0 + rng.uniform(0, size, x0.size)
            inside = shape.inside(qx, qy)
            assert not (inside & ~touched).any()
            assert not (~inside & full).any()
        # Whole grid cells: the rasteriser's full cells are full here too.
        area = rasterize([[ring]], grid)
        rows, cols = np.divmod(area.touched, grid.n_cols)
        t, f = _classify(
            lambda s=shape: [s],
            np.zeros(area.touched.size, dtype=bool),
            np.ones(area.touched.size, dtype=bool),
            area.touched,
            -180.0 + cols * 0.5,
            -90.0 + rows * 0.5,
            0.5,
        )
        is_full = np.isin(area.touched, area.full)
        assert t[is_full].all() and f[is_full].all()
