"""Territorial waters: a country claim holds its land and the sea within 12 nm nearest to it.

Checked against a slow, independent reference (:func:`in_claim`): land by the even–odd
rule on each country's whole edge list; at sea, great-circle distances to edges
densified every 25 m, so a distance errs by metres, far below the margin within which
the reference declines to answer.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from fleetproof.geo import Claim, CountryTable, Landmark, SpeedModel, Verifier, distance_km
from fleetproof.geo.waters import TERRITORIAL_SEA_KM
from fleetproof.geodata import load_countries, load_country_edges

STEP_KM = 0.025
KM_PER_MS = SpeedModel().v_max_km_per_ms / 2
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
near_st = st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5))  # landmark offsets from the truth, degrees
tight_st = st.tuples(st.floats(1.0, 1.1), st.floats(0.0, 0.2))  # tight RTTs: small disks, refinement at work


def nearby_landmarks(truth: tuple[float, float], offsets: list[tuple[float, float]]) -> list[Landmark]:
    return [
        Landmark(f"L{i}", min(max(truth[0] + a, -89.0), 89.0), (truth[1] + b + 180.0) % 360.0 - 180.0)
        for i, (a, b) in enumerate(offsets)
    ]


def honest_rtts(
    truth: tuple[float, float], lms: list[Landmark], slack: list[tuple[float, float]]
) -> dict[str, float]:
    """RTTs at or above the physical minimum for the true distance: ``minimum × a + b``."""
    return {
        lm.id: float(distance_km(truth[0], truth[1], lm.lat, lm.lon)) / KM_PER_MS * a + b
        for lm, (a, b) in zip(lms, slack, strict=False)
    }


def _inside(edges: np.ndarray, lon: float, lat: float) -> bool:
    x1, y1, x2, y2 = edges.T
    cross = (y1 > lat) != (y2 > lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
    return bool(np.sum(cross & (xc > lon)) % 2)


def _distance(edges: np.ndarray, lon: float, lat: float, within_deg: float) -> float:
    """Great-circle distance (km) to the nearest edge point, edges densified; inf beyond ``within_deg``."""
    x1, y1, x2, y2 = edges.T
    dlon = lambda x: (x - lon + 180.0) % 360.0 - 180.0  # noqa: E731
    wide = within_deg / max(np.cos(np.radians(min(abs(lat) + within_deg, 89.0))), 1e-3)
    near = (
        (np.minimum(y1, y2) <= lat + within_deg)
        & (np.maximum(y1, y2) >= lat - within_deg)
        & (np.minimum(dlon(x1), dlon(x2)) <= wide)
        & (np.maximum(dlon(x1), dlon(x2)) >= -wide)
    )
    e = edges[near]
    if e.shape[0] == 0:
        return float("inf")
    length = distance_km(e[:, 1], e[:, 0], e[:, 3], e[:, 2])
    n = np.maximum(np.ceil(length / STEP_KM).astype(np.int64), 1) + 1
    owner = np.repeat(np.arange(e.shape[0]), n)
    t = (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)) / (n[owner] - 1)
    px = e[owner, 0] + t * (e[owner, 2] - e[owner, 0])
    py = e[owner, 1] + t * (e[owner, 3] - e[owner, 1])
    return float(np.min(distance_km(lat, lon, py, px)))


def in_claim(code: str, lat: float, lon: float, margin_km: float = 0.2) -> bool | None:
    """True / False where the answer is clear by ``margin_km``; None within it (or near a border)."""
    edges = load_country_edges()
    own = edges[code]
    if _inside(own, lon, lat):
        return True if _distance(own, lon, lat, 0.01) > 0.01 else None
    for other, e in edges.items():
        if other != code and _inside(e, lon, lat):
            return False if _distance(e, lon, lat, 0.01) > 0.01 else None
    reach = (TERRITORIAL_SEA_KM + 5.0) / 111.0
    d_own = _distance(own, lon, lat, reach)
    d_other = min(
        (_distance(e, lon, lat, reach) for c, e in edges.items() if c != code), default=float("inf")
    )
    if d_own < 0.01:
        return None
    if d_own <= TERRITORIAL_SEA_KM - margin_km and d_own <= d_other - margin_km:
        return True
    if d_own >= TERRITORIAL_SEA_KM + margin_km or d_own >= d_other + margin_km:
        return False
    return None


@SETTINGS
@given(
    code_index=st.integers(0, 10_000),
    edge_index=st.integers(0, 10**9),
    shift=st.tuples(st.floats(-0.4, 0.4), st.floats(-0.4, 0.4)),
    offsets=st.lists(near_st, min_size=3, max_size=8),
    slack=st.lists(tight_st, min_size=8, max_size=8),
)
def test_refined_country_claims_sound_near_borders(
    code_index: int,
    edge_index: int,
    shift: tuple[float, float],
    offsets: list[tuple[float, float]],
    slack: list[tuple[float, float]],
) -> None:
    """A truth near a border or a coast, where refinement works: a country whose claim (land and waters)
    holds it is never a violation, one whose claim does not never proven."""
    countries = load_countries()
    code = countries.codes[code_index % len(countries.codes)]
    edges = load_country_edges()[code]
    x1, y1, _, _ = edges[edge_index % edges.shape[0]]
    truth = (float(np.clip(y1 + shift[1], -89.0, 89.0)), float(np.clip(x1 + shift[0], -180.0, 180.0)))
    held = in_claim(code, *truth)
    assume(held is not None)  # not within a few hundred metres of where the claim's edge runs
    inside = bool(held)
    lms = nearby_landmarks(truth, offsets)
    rtts = honest_rtts(truth, lms, slack)
    [r] = Verifier(lms, countries).verify(rtts, [Claim.country("c", "t", code)])
    event(f"{'inside' if inside else 'outside'}: {r.verdict}{', refined' if 'refined' in r.evidence else ''}")
    if inside:
        assert r.verdict != "violation", r.evidence
    else:
        assert r.verdict != "proven", r.evidence


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    code_index=st.integers(0, 10_000),
    edge_index=st.integers(0, 10**9),
    shift=st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5)),
    level=st.integers(0, 3),
)
def test_rectangles_are_classified_soundly(
    code_index: int, edge_index: int, shift: tuple[float, float], level: int
) -> None:
    """A rectangle called wholly inside a claim holds no place outside it; one called untouched,
    no place in it."""
    from fleetproof.geo.waters import WaterShape

    countries = load_countries()
    coasts = countries.coasts()
    assert coasts is not None
    code = countries.codes[code_index % len(countries.codes)]
    edges = load_country_edges()[code]
    x1, y1, _, _ = edges[edge_index % edges.shape[0]]
    lat, lon = float(np.clip(y1 + shift[1], -83.0, 83.0)), float((x1 + shift[0] + 180.0) % 360.0 - 180.0)
    size = countries.grid.resolution_deg / 4**level
    x0, y0 = np.floor(lon / size) * size, np.floor(lat / size) * size
    cell = countries.grid.cell_of(np.array([y0 + size / 2]), np.array([x0 + size / 2]))
    touched, full = WaterShape.build(coasts, [code]).classify(cell, np.array([x0]), np.array([y0]), size)
    event(f"level {level}: {'full' if full[0] else 'touched' if touched[0] else 'untouched'}")
    if touched[0] and not full[0]:
        return
    probes = (np.arange(3) + 0.5) / 3 * size
    for py in probes:
        for px in probes:
            held = in_claim(code, float(y0 + py), float(x0 + px))
            assert held is None or held == bool(full[0]), (code, y0 + py, x0 + px, touched, full)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    code_index=st.integers(0, 10_000),
    edge_index=st.integers(0, 10**9),
    shift=st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5)),
)
def test_country_cells_hold_their_waters(
    code_index: int, edge_index: int, shift: tuple[float, float]
) -> None:
    """The bundled cells agree with the reference: a claimed place is in a touched cell, a full cell
    holds no unclaimed place."""
    countries = load_countries()
    code = countries.codes[code_index % len(countries.codes)]
    edges = load_country_edges()[code]
    x1, y1, _, _ = edges[edge_index % edges.shape[0]]
    lat, lon = float(np.clip(y1 + shift[1], -83.0, 83.0)), float((x1 + shift[0] + 180.0) % 360.0 - 180.0)
    held = in_claim(code, lat, lon)
    assume(held is not None)
    cell = int(countries.grid.cell_of(lat, lon))
    area = countries.areas[code]
    touched, full = cell in set(area.touched.tolist()), cell in set(area.full.tolist())
    event(
        f"{'claimed' if held else 'not claimed'}: {'full' if full else 'touched' if touched else 'untouched'}"
    )
    if held:
        assert touched
    else:
        assert not full


@pytest.mark.parametrize(
    ("code", "lat", "lon", "held"),
    [
        ("US", 38.69, -77.13, True),  # the tidal Potomac, carved out of Natural Earth's United States
        ("JP", 35.5, 139.85, True),  # Tokyo Bay
        ("DE", 54.5, 10.3, True),  # the Bay of Kiel, in the Baltic
        ("DE", 54.5, 7.2, False),  # 30 km and more off the German coast: no country's
        ("JP", 34.0, 141.5, False),  # the open Pacific
        ("GB", 51.0, 1.45, True),  # the Strait of Dover, nearer England than France
        ("FR", 51.0, 1.45, False),
        ("US", 52.52, 13.40, False),  # Berlin: another country's land
    ],
)
def test_waters_by_example(code: str, lat: float, lon: float, held: bool) -> None:
    from fleetproof.geo.waters import WaterShape

    countries = load_countries()
    coasts = countries.coasts()
    assert coasts is not None
    assert in_claim(code, lat, lon) is held
    assert bool(WaterShape.build(coasts, [code]).inside(np.array([lon]), np.array([lat]))[0]) is held
    cell = int(countries.grid.cell_of(lat, lon))
    if held:
        assert cell in set(countries.areas[code].touched.tolist())
    else:
        assert cell not in set(countries.areas[code].full.tolist())


def test_territorial_sea_is_twelve_nautical_miles() -> None:
    assert TERRITORIAL_SEA_KM == 12 * 1.852
    assert load_countries().waters_km == TERRITORIAL_SEA_KM


LAND_ONLY = ("DE", "DK", "NL", "GB", "JP")


@functools.cache
def _land_only_table() -> CountryTable:
    """The same countries without their waters: Natural Earth's land alone, rasterised here."""
    from fleetproof.geo import rasterize
    from fleetproof.geodata import load_country_shapes

    countries = load_countries()
    shapes = load_country_shapes()
    areas = {code: rasterize(shapes[code], countries.grid, 5, cut=True) for code in LAND_ONLY}
    edges = {code: load_country_edges()[code] for code in LAND_ONLY}
    return CountryTable(countries.grid, areas, edges=edges)


def test_waters_only_add_to_a_claim() -> None:
    countries = load_countries()
    land = _land_only_table()
    for code in LAND_ONLY:
        a, w = land.areas[code], countries.areas[code]
        assert set(a.touched.tolist()) <= set(w.touched.tolist())
        assert set(a.full.tolist()) <= set(w.full.tolist())
        assert w.touched.size > a.touched.size  # every one of them has a coast


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(0, 10**6),
    edge_index=st.integers(0, 10**9),
    shift=st.tuples(st.floats(-0.4, 0.4), st.floats(-0.4, 0.4)),
    offsets=st.lists(near_st, min_size=3, max_size=6),
    slack=st.lists(tight_st, min_size=6, max_size=6),
)
def test_waters_make_violations_rarer_never_new(
    which: int,
    edge_index: int,
    shift: tuple[float, float],
    offsets: list[tuple[float, float]],
    slack: list[tuple[float, float]],
) -> None:
    """Against the same RTTs, a claim that is a violation with waters is one on land alone too."""
    code = LAND_ONLY[which % len(LAND_ONLY)]
    edges = load_country_edges()[code]
    x1, y1, _, _ = edges[edge_index % edges.shape[0]]
    truth = (float(y1 + shift[1]), float(x1 + shift[0]))
    lms = nearby_landmarks(truth, offsets)
    rtts = honest_rtts(truth, lms, slack)
    claims = [Claim.country(c, "t", c) for c in LAND_ONLY]
    with_waters = Verifier(lms, load_countries()).verify(rtts, claims)
    land_only = Verifier(lms, _land_only_table()).verify(rtts, claims)
    for w, a in zip(with_waters, land_only, strict=True):
        event(f"waters {w.verdict}, land {a.verdict}")
        if w.verdict == "violation":
            assert a.verdict == "violation", (w.claim, w.evidence, a.evidence)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    code_index=st.integers(0, 10_000),
    edge_index=st.integers(0, 10**9),
    shift=st.tuples(st.floats(-0.6, 0.6), st.floats(-0.6, 0.6)),
    reach=st.floats(1.0, 80.0),
)
def test_distance_bounds_hold_the_true_distance(
    code_index: int, edge_index: int, shift: tuple[float, float], reach: float
) -> None:
    """The bounds on the distance to a country's coast hold the great-circle distance (reference)."""
    countries = load_countries()
    coasts = countries.coasts()
    assert coasts is not None
    code = countries.codes[code_index % len(countries.codes)]
    edges = load_country_edges()[code]
    x1, y1, _, _ = edges[edge_index % edges.shape[0]]
    lat, lon = float(np.clip(y1 + shift[1], -83.0, 83.0)), float((x1 + shift[0] + 180.0) % 360.0 - 180.0)
    a_lo, a_hi, _, _, ok = coasts.distances(
        np.array([lon]), np.array([lat]), coasts.mask([code]), np.array([reach])
    )
    assume(bool(ok[0]))
    truth = _distance(edges, lon, lat, reach / 100.0 + 0.5)
    event("within reach" if truth <= reach else "beyond reach")
    # The reference is never below the true distance and at most 12.5 m above it (edges densified
    # every 25 m); the engine's bounds must hold the true distance.
    assert a_lo[0] <= truth
    if truth <= reach:
        assert truth - 0.0125 <= a_hi[0]


def test_remembered_classifications_are_the_computed_ones() -> None:
    """Refinement's sub-cells near a coast and a land border, classified twice (the second time
    from :meth:`Coasts.memo`), and shifted off the grid (never remembered): the same answers as
    computing each afresh."""
    from fleetproof.geo.waters import WaterShape

    countries = load_countries()
    coasts = countries.coasts()
    assert coasts is not None
    shape = WaterShape.build(coasts, ["DK"])
    size = countries.grid.resolution_deg / 16
    rng = np.random.default_rng(5)
    col = np.floor((rng.uniform(8.0, 13.0, 600) + 180.0) / size)
    row = np.floor((rng.uniform(54.4, 57.8, 600) + 90.0) / size)
    x0, y0 = col * size - 180.0, row * size - 90.0
    cell = countries.grid.cell_of(y0 + size / 2, x0 + size / 2)
    fresh = shape._classify(cell, x0, y0, size)
    kinds = set(zip(*(a.tolist() for a in fresh), strict=True))
    assert {(True, True), (True, False), (False, False)} <= kinds  # land or waters, border, neither
    for _ in range(2):
        got = shape.classify(cell, x0, y0, size)
        assert all(np.array_equal(a, b) for a, b in zip(got, fresh, strict=True))
    assert len(coasts.memo(shape.claim, size)) >= len(set(zip(col.tolist(), row.tolist(), strict=True)))
    off = x0 + size / 3  # not on the grid: computed, not looked up
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            shape.classify(cell, off, y0, size), shape._classify(cell, off, y0, size), strict=True
        )
    )
