"""Refinement where longitude/latitude and the sphere part ways: holes, the antimeridian, the poles.

The claims here are longitude/latitude boxes, some with a box-shaped hole (an enclave), some
across ±180° (cut there, as GeoJSON asks, or written past 180°), some reaching 89.9°; the
tolerant region is one exact disk (three landmarks at one place). For such a claim the truth is
computable edge by edge: along a parallel the nearest point to the disk's centre is at the
centre's longitude or a corner, along a meridian at one latitude or a corner. A ``violation``
needs the disk to stop short of the claim, a ``proven`` the disk to stop short of its outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fleetproof.geo import Claim, Landmark, SpeedModel, Verifier
from fleetproof.geo.grid import Grid, corner_margin
from fleetproof.geo.raster import cut_at_antimeridian, polygon_edges, rasterize
from fleetproof.geo.refine import Shape
from fleetproof.geo.sphere import EARTH_RADIUS_KM, unit_vectors

SPEED = SpeedModel()
KM_PER_MS = SPEED.v_max_km_per_ms / 2
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----- the truth for boxes with a box hole
def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.arctan2(np.linalg.norm(np.cross(a, b)), a @ b))


@dataclass(frozen=True)
class Box:
    """Longitudes ``lon0 … lon0 + width`` (may pass 180°, read modulo 360°), latitudes ``lat0 … lat1``."""

    lon0: float
    width: float
    lat0: float
    lat1: float

    def holds(self, lat: float, lon: float, strictly: bool = False) -> bool:
        d = (lon - self.lon0) % 360.0
        if strictly:
            return self.lat0 < lat < self.lat1 and 0.0 < d < self.width
        return self.lat0 <= lat <= self.lat1 and d <= self.width

    def edge_distance(self, lat: float, lon: float) -> float:
        """Angle (radians) from a point to the nearest point of the box's four edges."""
        c = unit_vectors(lat, lon)
        lon1 = self.lon0 + self.width
        points = []
        inside_lons = (lon - self.lon0) % 360.0 <= self.width
        for parallel in (self.lat0, self.lat1):
            points += [(parallel, self.lon0), (parallel, lon1)] + ([(parallel, lon)] if inside_lons else [])
        slat, clat = np.sin(np.radians(lat)), np.cos(np.radians(lat))
        for meridian in (self.lon0, lon1):
            top = float(np.degrees(np.arctan2(slat, clat * np.cos(np.radians(lon - meridian)))))
            points += [(y, meridian) for y in (self.lat0, self.lat1, top) if self.lat0 <= y <= self.lat1]
        return min(_angle(c, unit_vectors(y, x)) for y, x in points)

    def mirrored(self) -> Box:
        return Box(self.lon0, self.width, -self.lat1, -self.lat0)

    def ring(self, lon0: float, lon1: float) -> list[list[float]]:
        return [[lon0, self.lat0], [lon1, self.lat0], [lon1, self.lat1], [lon0, self.lat1], [lon0, self.lat0]]


@dataclass(frozen=True)
class Enclave:
    """A box claim minus the inside of ``hole`` (the hole's border belongs to the claim)."""

    outer: Box
    hole: Box | None = None

    def holds(self, lat: float, lon: float) -> bool:
        return self.outer.holds(lat, lon) and not (self.hole is not None and self.hole.holds(lat, lon, True))

    def _edges(self, lat: float, lon: float) -> float:
        return min(b.edge_distance(lat, lon) for b in (self.outer, self.hole) if b is not None)

    def distance(self, lat: float, lon: float) -> float:
        """Angle from a point to the nearest place of the claim (0 inside)."""
        return 0.0 if self.holds(lat, lon) else self._edges(lat, lon)

    def clearance(self, lat: float, lon: float) -> float:
        """Angle from a point to the nearest place outside the claim (0 outside)."""
        return self._edges(lat, lon) if self.holds(lat, lon) else 0.0

    def geojson(self, cut: bool = True) -> dict[str, Any]:
        """As GeoJSON: cut in two at the antimeridian (``cut``) or written past 180° in one ring."""
        o = self.outer
        lon1 = o.lon0 + o.width
        pieces = [(o.lon0, 180.0), (-180.0, lon1 - 360.0)] if lon1 > 180.0 and cut else [(o.lon0, lon1)]
        polygons = []
        for a, b in pieces:
            rings = [o.ring(a, b)]
            if self.hole is not None:
                h = self.hole
                h0 = h.lon0 if not cut else (h.lon0 + 180.0) % 360.0 - 180.0
                if a <= h0 and h0 + h.width <= b:
                    rings.append(h.ring(h0, h0 + h.width))
            polygons.append(rings)
        return {"type": "MultiPolygon", "coordinates": polygons}


def disk(lat: float, lon: float, radius_km: float) -> tuple[list[Landmark], dict[str, float], float]:
    """Three landmarks at one place: the tolerant region is exactly their disk (returned in radians)."""
    lms = [Landmark(f"L{i}", lat, lon) for i in range(3)]
    rtt = radius_km / KM_PER_MS
    return lms, {lm.id: rtt for lm in lms}, float(SPEED.max_angle_rad(rtt))


def radius_near(angle: float, delta_km: float) -> float:
    """A bound (km) whose disk (after the sphere's widening) ends ``delta_km`` beyond ``angle``."""
    return max((angle * EARTH_RADIUS_KM + delta_km) / 1.006, 0.5)


def verdict(
    claim: Enclave, lat: float, lon: float, radius_km: float, cut: bool = True, depth: int = 3
) -> str:
    lms, rtts, _ = disk(lat, lon, radius_km)
    [r] = Verifier(lms, refine_depth=depth).verify(rtts, [Claim.in_region("c", "t", claim.geojson(cut), "c")])
    assert r.verdict is not None
    return r.verdict


def check_sound(claim: Enclave, lat: float, lon: float, delta_km: float, cut: bool = True) -> None:
    """A disk centred at (lat, lon) whose edge passes ``delta_km`` from the claim's nearest border."""
    critical = max(claim.distance(lat, lon), claim.clearance(lat, lon))
    radius_km = radius_near(critical, delta_km) if 1.0 < critical * EARTH_RADIUS_KM < 330.0 else 50.0
    lms, rtts, r = disk(lat, lon, radius_km)
    [res] = Verifier(lms).verify(rtts, [Claim.in_region("c", "t", claim.geojson(cut), "c")])
    event(f"{res.verdict}{', refined' if 'refined' in res.evidence else ''}")
    if res.verdict == "violation":
        assert claim.distance(lat, lon) > r, res.evidence
    if res.verdict == "proven":
        assert claim.clearance(lat, lon) > r, res.evidence


# ----- strategies: a box (maybe with a hole), and a disk centre near one of its edges
frac = st.floats(0.05, 0.95)
delta_st = st.floats(0.05, 8.0).flatmap(lambda d: st.sampled_from([d, -d]))
signed_st = st.floats(0.05, 1.2).flatmap(lambda d: st.sampled_from([d, -d]))
offset_st = st.tuples(signed_st, signed_st)


@st.composite
def enclaves(draw: st.DrawFn, lon0: st.SearchStrategy[float], lat0: st.SearchStrategy[float]) -> Enclave:
    west, width, south, height = draw(lon0), draw(st.floats(0.3, 6.0)), draw(lat0), draw(st.floats(0.3, 5.0))
    outer = Box(west, width, south, min(south + height, 89.9))
    if not draw(st.booleans()):
        return Enclave(outer)
    fw, fh, fx, fy = draw(frac) * 0.8, draw(frac) * 0.8, draw(frac), draw(frac)
    hw, hh = fw * outer.width, fh * (outer.lat1 - outer.lat0)
    h0 = outer.lon0 + fx * (outer.width - hw)
    if (h0 + 180.0) % 360.0 - 180.0 + hw > 180.0:  # a hole across the cut is not drawn here
        return Enclave(outer)
    s = outer.lat0 + fy * (outer.lat1 - outer.lat0 - hh)
    return Enclave(outer, Box(h0, hw, s, s + hh))


def place(claim: Enclave, which: int, t: float, offset: tuple[float, float]) -> tuple[float, float]:
    """A point ``offset`` degrees from a point on an edge of the outer box (``which`` 0–3) or of the
    hole (4–7), or (8–9) at fractions ``t``, ``offset`` of the outer box: inside it, maybe in the hole."""
    b = claim.hole if claim.hole is not None and which in range(4, 8) else claim.outer
    if which >= 8:
        lon = b.lon0 + t * b.width
        return b.lat0 + abs(offset[0]) / 1.2 * (b.lat1 - b.lat0), (lon + 180.0) % 360.0 - 180.0
    side = which % 4
    lat = [b.lat0, b.lat1, b.lat0 + t * (b.lat1 - b.lat0), b.lat0 + t * (b.lat1 - b.lat0)][side]
    lon = [b.lon0 + t * b.width, b.lon0 + t * b.width, b.lon0, b.lon0 + b.width][side]
    return float(np.clip(lat + offset[0], -90.0, 90.0)), float((lon + offset[1] + 180.0) % 360.0 - 180.0)


@SETTINGS
@given(
    claim=enclaves(st.floats(-180.0, 174.0), st.floats(-80.0, 80.0)),
    which=st.integers(0, 9),
    t=st.floats(0.0, 1.0),
    offset=offset_st,
    delta=delta_st,
)
def test_refined_claims_with_holes_sound(
    claim: Enclave, which: int, t: float, offset: tuple[float, float], delta: float
) -> None:
    check_sound(claim, *place(claim, which, t, offset), delta)


@SETTINGS
@given(
    claim=enclaves(st.floats(174.5, 179.9), st.floats(-60.0, 60.0)),
    which=st.integers(0, 9),
    t=st.floats(0.0, 1.0),
    offset=offset_st,
    delta=delta_st,
    cut=st.booleans(),
)
def test_refined_claims_across_the_antimeridian_sound(
    claim: Enclave, which: int, t: float, offset: tuple[float, float], delta: float, cut: bool
) -> None:
    check_sound(claim, *place(claim, which, t, offset), delta, cut)


@SETTINGS
@given(
    claim=enclaves(st.floats(-180.0, 174.0), st.floats(80.0, 89.6)),
    which=st.integers(0, 9),
    t=st.floats(0.0, 1.0),
    offset=offset_st,
    delta=delta_st,
    at_pole=st.none() | st.floats(89.0, 90.0),
    south=st.booleans(),
)
def test_refined_claims_near_the_poles_sound(
    claim: Enclave,
    which: int,
    t: float,
    offset: tuple[float, float],
    delta: float,
    at_pole: float | None,
    south: bool,
) -> None:
    lat, lon = place(claim, which, t, offset)
    if at_pole is not None:  # a disk around the pole
        lat = at_pole
    if south:  # the same, mirrored
        hole = None if claim.hole is None else claim.hole.mirrored()
        claim, lat = Enclave(claim.outer.mirrored(), hole), -lat
    check_sound(claim, lat, lon, delta)


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(-90.0, 90.0),
    level=st.integers(0, 6),
    u=st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)), min_size=1, max_size=20),
)
def test_subcell_margin_covers_the_subcell_near_the_poles(
    lat: float, level: int, u: list[tuple[float, float]]
) -> None:
    """Every point of a sub-cell (any level, any row, the polar ones included) is within its margin."""
    size = 0.5 / 4**level
    lat0 = min(np.floor((lat + 90.0) / size) * size - 90.0, 90.0 - size)
    margin = float(corner_margin(np.array([lat0]), size)[0])
    centre = unit_vectors(lat0 + size / 2, size / 2)
    for a, b in [*u, (0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (0.5, 1.0), (1.0, 0.5)]:
        assert _angle(centre, unit_vectors(lat0 + a * size, b * size)) <= margin


# ----- explicit cases: an enclave
SQUARE = Enclave(Box(0.0, 10.0, 0.0, 10.0), Box(4.1, 1.8, 4.1, 5.9))  # hole edges inside grid cells


def test_target_in_the_hole_is_a_violation_never_proven() -> None:
    gap = SQUARE.distance(5.0, 5.0)  # ~99 km to the hole's border
    assert gap > 0
    assert verdict(SQUARE, 5.0, 5.0, radius_near(gap, -10.0), depth=0) == "consistent"
    assert verdict(SQUARE, 5.0, 5.0, radius_near(gap, -10.0)) == "violation"
    assert verdict(SQUARE, 5.0, 5.0, radius_near(gap, 2.0)) == "consistent"


def test_target_in_the_ring_beside_the_hole_is_proven() -> None:
    lat, lon = 5.0, 3.6  # in the ring, ~55 km west of the hole
    clear = SQUARE.clearance(lat, lon)
    assert verdict(SQUARE, lat, lon, radius_near(clear, -10.0), depth=0) == "consistent"
    assert verdict(SQUARE, lat, lon, radius_near(clear, -10.0)) == "proven"
    assert verdict(SQUARE, lat, lon, radius_near(clear, 2.0)) == "consistent"  # reaches into the hole


def test_enclave_refined_the_same_batched_or_not() -> None:
    """The hole and the ring beside it, decided the same by the batched and the one-at-a-time paths."""
    for lat, lon, expected in ((5.0, 5.0, ["violation", "consistent"]), (5.0, 3.6, ["proven", "consistent"])):
        critical = max(SQUARE.distance(lat, lon), SQUARE.clearance(lat, lon))
        lms, _, _ = disk(lat, lon, 1.0)
        rtt = np.array([[radius_near(critical, d) / KM_PER_MS] * 3 for d in (-10.0, 2.0)])
        claims = [(i, Claim.in_region(f"c{i}", "t", SQUARE.geojson(), "sq")) for i in range(2)]
        fast, slow = Verifier(lms), Verifier(lms)
        slow.batched = False
        a = [r.to_json() for r in fast.verify_matrix(["a", "b"], rtt, claims)]
        b = [r.to_json() for r in slow.verify_matrix(["a", "b"], rtt, claims)]
        assert a == b
        assert [r["verdict"] for r in a] == expected


def _border_distance_km(edges: np.ndarray, lat: float, lon: float) -> float:
    """Distance (km) from a point to a boundary of straight lon/lat edges, sampled every few metres."""
    t = np.linspace(0.0, 1.0, 400)[None, :]
    x = edges[:, 0:1] + t * (edges[:, 2:3] - edges[:, 0:1])
    y = edges[:, 1:2] + t * (edges[:, 3:4] - edges[:, 1:2])
    dots = unit_vectors(y.ravel(), x.ravel()) @ unit_vectors(lat, lon)
    return float(np.arccos(np.clip(dots.max(), -1.0, 1.0)) * EARTH_RADIUS_KM)


def test_lesotho_inside_south_africa() -> None:
    """South Africa's polygon has Lesotho as a hole: a target in Lesotho is not in South Africa."""
    from fleetproof.geodata import load_countries

    countries = load_countries()
    assert countries.edges is not None
    lat, lon = -29.75, 28.25  # in Lesotho, in a cell wholly inside it, ~46 km from the border
    gap = _border_distance_km(countries.edges["LS"], lat, lon)
    assert 30.0 < gap < 60.0
    claims = [Claim.country("za", "t", "ZA"), Claim.country("ls", "t", "LS")]

    def verdicts(radius_km: float, depth: int = 3) -> dict[str | None, str | None]:
        lms, rtts, _ = disk(lat, lon, radius_km)
        return {r.claim: r.verdict for r in Verifier(lms, countries, refine_depth=depth).verify(rtts, claims)}

    short = (gap - 3.0) / 1.006
    assert verdicts(short, depth=0) == {"za": "consistent", "ls": "consistent"}
    assert verdicts(short) == {"za": "violation", "ls": "proven"}
    assert verdicts((gap + 3.0) / 1.006) == {"za": "consistent", "ls": "consistent"}


# ----- explicit cases: the antimeridian
FIJI = Enclave(Box(178.6, 2.8, -18.1, -16.1))  # 178.6°E … 178.6°W, its sides inside grid cells


def test_region_across_the_antimeridian_violation_and_proven() -> None:
    for cut in (True, False):
        east = FIJI.distance(-17.1, -178.3)  # east of the claim, ~32 km from its east side
        assert verdict(FIJI, -17.1, -178.3, radius_near(east, -10.0), cut, depth=0) == "consistent"
        assert verdict(FIJI, -17.1, -178.3, radius_near(east, -10.0), cut) == "violation"
        assert verdict(FIJI, -17.1, -178.3, radius_near(east, 2.0), cut) == "consistent"
        # Inside, ~69 km from its west side, the disk reaching the grid column at the cut.
        west = FIJI.clearance(-17.25, 179.25)
        assert verdict(FIJI, -17.25, 179.25, radius_near(west, -10.0), cut, depth=0) == "consistent"
        assert verdict(FIJI, -17.25, 179.25, radius_near(west, -10.0), cut) == "proven"
        assert verdict(FIJI, -17.25, 179.25, radius_near(west, 2.0), cut) == "consistent"


def test_disk_across_the_cut_is_proven_only_when_the_ring_is_not_cut() -> None:
    """The cut at ±180° is a border like any other, so a disk across it is not proven (sound, not
    complete); a ring written past 180° has no such edge."""
    lat, lon = -17.1, -179.95
    radius = radius_near(FIJI.clearance(lat, lon), -20.0)  # ~75 km across the antimeridian, inside
    assert verdict(FIJI, lat, lon, radius, cut=True) == "consistent"
    assert verdict(FIJI, lat, lon, radius, cut=False) == "proven"


def test_ring_written_past_180_keeps_its_far_side() -> None:
    """177°E…181°E is 177°E…179°W: a target at 179.5°W is in it (it used to be cut off at 180°)."""
    ring = [[177.0, -19.0], [181.0, -19.0], [181.0, -16.0], [177.0, -16.0], [177.0, -19.0]]
    west = [[[x - 360.0, y] for x, y in ring]]
    lms, rtts, _ = disk(-17.5, -179.5, 30.0)
    for coords in ([ring], west):
        claim = Claim.in_region("c", "t", {"type": "Polygon", "coordinates": coords}, "fiji")
        assert [r.verdict for r in Verifier(lms, refine_depth=0).verify(rtts, [claim])] == ["consistent"]
        assert [r.verdict for r in Verifier(lms).verify(rtts, [claim])] == ["proven"]


def test_uncut_ring_across_the_antimeridian_goes_the_long_way() -> None:
    """By design edges are straight in lon/lat: 179°E → 179°W without a cut spans 358° of longitude."""
    ring = [[179.0, -18.0], [-179.0, -18.0], [-179.0, -16.0], [179.0, -16.0], [179.0, -18.0]]
    claim = Claim.in_region("c", "t", {"type": "Polygon", "coordinates": [ring]}, "long way")
    lms, rtts, _ = disk(-17.0, 180.0, 20.0)
    assert [r.verdict for r in Verifier(lms).verify(rtts, [claim])] == ["violation"]
    lms, rtts, _ = disk(-17.0, 0.0, 50.0)
    assert [r.verdict for r in Verifier(lms).verify(rtts, [claim])] == ["proven"]


def test_landmarks_on_both_sides_of_the_antimeridian() -> None:
    """Two landmarks at 179.5°E, two at 179.5°W: the tolerant region is their lens across 180°."""
    claim = Enclave(Box(-179.3, 1.3, -18.1, -16.1))  # east of the lens
    a, b = (-17.1, 179.5), (-17.1, -179.5)
    gap_a = claim.distance(*a)
    for delta, expected in ((-5.0, "violation"), (3.0, "consistent")):
        lms = [Landmark(f"A{i}", *a) for i in range(2)] + [Landmark(f"B{i}", *b) for i in range(2)]
        rtts = {"A0": radius_near(gap_a, delta) / KM_PER_MS, "B0": 60.0 / KM_PER_MS}
        rtts |= {"A1": rtts["A0"], "B1": rtts["B0"]}
        claims = [Claim.in_region("c", "t", claim.geojson(), "c")]
        [r] = Verifier(lms).verify(rtts, claims)
        assert r.verdict == expected, r.evidence
        if expected == "violation":
            [coarse] = Verifier(lms, refine_depth=0).verify(rtts, claims)
            assert coarse.verdict == "consistent" and "refined" in r.evidence


# ----- explicit cases: the poles
def test_disk_around_the_pole_beyond_a_claim_reaching_89_9() -> None:
    claim = Enclave(Box(-45.0, 90.0, 80.0, 89.9))
    gap = claim.distance(89.99, 0.0)  # ~10 km, to the claim's top edge at lon 0
    assert verdict(claim, 89.99, 0.0, radius_near(gap, -5.0), depth=0) == "consistent"
    assert verdict(claim, 89.99, 0.0, radius_near(gap, -5.0)) == "violation"
    assert verdict(claim, 89.99, 0.0, radius_near(gap, 2.0)) == "consistent"
    south = Enclave(Box(-45.0, 90.0, -89.9, -80.0))
    assert verdict(south, -89.99, 0.0, radius_near(gap, -5.0)) == "violation"


def test_polar_limits_are_sound() -> None:
    """What refinement cannot settle near a pole leaves the grid's answer: never a false verdict.

    A claim all around the pole has every column of the polar row at its border (more sub-cells than
    the budget), and one reaching 90° keeps its edge along the pole, so no sub-cell there is full.
    """
    ring_all = Enclave(Box(-180.0, 359.999, 85.0, 89.9))
    assert verdict(ring_all, 89.99, 0.0, 3.0) == "consistent"  # truly a violation
    cap = {"type": "Polygon", "coordinates": [[[-180.0, 85.0], [180.0, 85.0], [180.0, 90.0], [-180.0, 90.0]]]}
    lms, rtts, _ = disk(89.9, 30.0, 50.0)
    [r] = Verifier(lms).verify(rtts, [Claim.in_region("c", "t", cap, "cap")])
    assert r.verdict == "consistent"  # truly proven


# ----- overlapping polygons: a union, not even–odd across them
def test_overlapping_features_are_a_union() -> None:
    """Two features of one region that overlap: their common part is in the claim (even–odd
    across them used to make it a hole, and a target there a false violation)."""

    def feature(box: Box) -> dict[str, Any]:
        coords = [box.ring(box.lon0, box.lon0 + box.width)]
        return {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": coords}}

    a, b = Box(0.0, 6.0, 0.0, 6.0), Box(3.1, 6.0, 3.1, 6.0)
    features = [feature(a), feature(b)]
    region = {"type": "FeatureCollection", "features": features}
    multi = {"type": "MultiPolygon", "coordinates": [f["geometry"]["coordinates"] for f in features]}
    for doc in (region, multi):
        claim = [Claim.in_region("c", "t", doc, "two")]
        lms, rtts, _ = disk(4.6, 4.6, 50.0)  # in the overlap only
        for depth in (0, 3):
            assert [r.verdict for r in Verifier(lms, refine_depth=depth).verify(rtts, claim)] == ["proven"]
        # In the notch beside both boxes, ~165 km from each: refined to a violation, the union no wider.
        gap = min(a.edge_distance(7.5, 1.6), b.edge_distance(7.5, 1.6))
        lms, rtts, _ = disk(7.5, 1.6, radius_near(gap, -5.0))
        [r] = Verifier(lms).verify(rtts, claim)
        assert r.verdict == "violation" and "refined" in r.evidence


# ----- countries whose rings cross the antimeridian (world-atlas writes them with jump edges)
def test_russia_and_antarctica_across_the_antimeridian() -> None:
    """Russia's mainland and Wrangel Island, and Antarctica's coast, cross ±180° with edges from
    about 180° to about −180°; read the long way, they turned a band of latitudes inside out
    (Siberia out of Russia, Nunavut and Greenland in it, and much of Antarctica out of it)."""
    from fleetproof.geodata import load_countries

    countries = load_countries()
    claims = [Claim.country("ru", "t", "RU"), Claim.country("gl", "t", "GL"), Claim.country("aq", "t", "AQ")]
    v = {}
    for name, (lat, lon) in {
        "siberia": (66.0, 100.0),
        "chukotka": (66.0, -172.0),  # east of 180°
        "greenland": (72.0, -40.0),
        "antarctica": (-85.0, 120.0),
    }.items():
        lms, rtts, _ = disk(lat, lon, 30.0)
        v[name] = {r.claim: r.verdict for r in Verifier(lms, countries).verify(rtts, claims)}
    assert v["siberia"] == {"ru": "proven", "gl": "violation", "aq": "violation"}
    assert v["chukotka"]["ru"] != "violation" and v["chukotka"]["gl"] == "violation"
    assert v["greenland"] == {"ru": "violation", "gl": "proven", "aq": "violation"}
    assert v["antarctica"] == {"ru": "violation", "gl": "violation", "aq": "proven"}
    assert countries.country_at(66.0, 100.0) == "RU" and countries.country_at(66.5, -40.0) == "GL"


def test_cut_at_antimeridian_reads_jump_edges_the_short_way() -> None:
    """A ring written 179°E → 179°W with jump edges, cut, holds what the ring cut by hand holds."""
    box = Enclave(Box(179.0, 2.0, -18.0, -16.0))
    ring = [[179.0, -18.0], [-179.0, -18.0], [-179.0, -16.0], [179.0, -16.0], [179.0, -18.0]]
    edges = cut_at_antimeridian(polygon_edges([ring]))
    shape = Shape.build(Grid(0.5), edges)
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(-180.0, 180.0, 4000), rng.uniform(-19.0, -15.0, 4000)
    lon[:2000] = rng.uniform(178.0, 182.0, 2000)  # most near the cut
    lon = (lon + 180.0) % 360.0 - 180.0
    expected = np.array([box.holds(float(y), float(x)) for y, x in zip(lat, lon, strict=True)])
    assert (shape.inside(lon, lat) == expected).all()
    area = rasterize([[ring]], Grid(0.5), cut=True)
    cut_by_hand = rasterize([[box.outer.ring(179.0, 180.0)], [box.outer.ring(-180.0, -179.0)]], Grid(0.5))
    assert np.array_equal(area.touched, cut_by_hand.touched)
    # An odd number of jumps (a ring around a pole) is left as it is.
    polar = polygon_edges([[[-180.0, 80.0], [0.0, 80.0], [180.0, 80.0], [-180.0, 80.0]]])
    assert np.array_equal(cut_at_antimeridian(polar), polar)


# ----- high latitudes: a cell wholly outside the claim that only the cell-margin test keeps
def test_cell_outside_the_claim_kept_by_its_margin_is_refined_away() -> None:
    """At 66.7° N a 0.5° cell is 22 km wide and 55 km tall, so the cell-margin test (its half
    diagonal, about 30 km) keeps cells beyond a claim's side that the disk never reaches. Such a
    cell, wholly outside the claim, must be refined like a border cell before it may block
    ``proven``; a disk that does reach past the side still must not be proven.
    """
    claim = Enclave(Box(20.03, 5.42, 65.03, 68.0))  # east side at 25.45° E, near its cell's east edge
    lat, lon = 66.7, 24.9
    clearance = claim.clearance(lat, lon)
    assert 20.0 < clearance * EARTH_RADIUS_KM < 30.0
    assert verdict(claim, lat, lon, radius_near(clearance, -5.0), depth=0) == "consistent"
    assert verdict(claim, lat, lon, radius_near(clearance, -5.0)) == "proven"
    assert verdict(claim, lat, lon, radius_near(clearance, 2.0)) == "consistent"


def test_site_in_sweden_near_finland_is_proven_both_paths() -> None:
    """A site 68 km inside Sweden at 66.7° N with two landmarks 9–10 km away (modelled RTTs: 1.4 ×
    the great circle at 2/3 c plus 0.1 ms per end): both disks end 7.5 km short of Finland, but
    cells of Finland pass the cell-margin test. Refined, the claim is proven, batched or not."""
    from fleetproof.geodata import load_countries

    site = (66.72937, 22.28251)
    lms = [
        Landmark("a", 66.66442, 22.40733),
        Landmark("b", 66.78890, 22.45101),
        Landmark("stockholm", 59.33, 18.07),
    ]
    d_km = [
        float(np.arccos(np.clip(unit_vectors(*site) @ unit_vectors(lm.lat, lm.lon), -1, 1)) * EARTH_RADIUS_KM)
        for lm in lms
    ]
    rtts = {lm.id: 2 * d * 1.4 / SPEED.v_max_km_per_ms + 0.4 for lm, d in zip(lms, d_km, strict=True)}
    v = Verifier(lms, load_countries())
    claims = [Claim.country("se", "t", "SE"), Claim.country("fi", "t", "FI")]
    for batched in (True, False):
        v.batched = batched
        got = {r.claim: r.verdict for r in v.verify(rtts, claims)}
        assert got == {"se": "proven", "fi": "violation"}, (batched, got)
