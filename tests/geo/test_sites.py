"""Sites with landmarks close by: proven where the geometry allows, never flagged when honest.

A *site* is a host with two landmarks 5 km away (RTT 0.47 ms each: the physical bound,
46.9 km, and then some) and a dozen far landmarks around the world measured with a
realistic inflation. Without a mesh the engine uses its default delay model; with one,
the model is calibrated on the landmarks' mesh (same inflation), as a deployment does.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fleetproof.geo import Claim, DelayModel, Landmark, MeshLink, SpeedModel, Verifier, calibrate, distance_km
from fleetproof.geo.sphere import unit_vectors
from fleetproof.geodata import load_countries

KM_PER_MS = SpeedModel().v_max_km_per_ms / 2
FAR = [  # landmarks a site's host reaches only over long paths
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


def _towards(lat: float, lon: float, km: float, bearing_deg: float) -> tuple[float, float]:
    la, lo, b, d = np.radians(lat), np.radians(lon), np.radians(bearing_deg), km / 6371.0088
    la2 = np.arcsin(np.sin(la) * np.cos(d) + np.cos(la) * np.sin(d) * np.cos(b))
    lo2 = lo + np.arctan2(np.sin(b) * np.sin(d) * np.cos(la), np.cos(d) - np.sin(la) * np.sin(la2))
    return float(np.degrees(la2)), float((np.degrees(lo2) + 540.0) % 360.0 - 180.0)


def _rtt(d_km: float, inflation: float = 1.5, fixed_ms: float = 1.0) -> float:
    return d_km / KM_PER_MS * inflation + fixed_ms


def site(
    lat: float, lon: float, near_km: float = 5.0, near_rtt: float = 0.47, calibrated: bool = False
) -> tuple[Verifier, dict[str, float]]:
    """A Verifier with two landmarks ``near_km`` from (lat, lon) and the far set; the host's RTTs."""
    near = [Landmark(f"near{k}", *_towards(lat, lon, near_km, 90.0 + 180.0 * k)) for k in range(2)]
    far = [Landmark(f"far{k}", a, b) for k, (a, b) in enumerate(FAR) if distance_km(a, b, lat, lon) > 300.0]
    lms = near + far
    rtts = {lm.id: _rtt(float(distance_km(lat, lon, lm.lat, lm.lon))) for lm in far}
    rtts.update({lm.id: near_rtt for lm in near})
    model = DelayModel.default()
    if calibrated:
        mesh = [
            MeshLink(a.id, b.id, _rtt(float(distance_km(a.lat, a.lon, b.lat, b.lon))))
            for i, a in enumerate(lms)
            for b in lms[i + 1 :]
        ]
        model = calibrate(lms, mesh, countries=load_countries())
    return Verifier(lms, load_countries(), model=model), rtts


# Sites the exact geometry proves: the whole region (two 46.9 km disks) lies in the country's
# land and waters. By the sea: Baltimore (Chesapeake Bay), Osaka (Osaka Bay), Hamburg (the
# Elbe), Tokyo (Tokyo Bay), Ashburn (the tidal Potomac); inland, 60 km and more from a border:
# Kansas City, Nuremberg, Frankfurt.
PROVABLE = [
    ("Ashburn", 39.04, -77.49, "US"),
    ("Tokyo", 35.68, 139.76, "JP"),
    ("Frankfurt", 50.11, 8.68, "DE"),
    ("Baltimore", 39.29, -76.61, "US"),
    ("Kansas City", 39.10, -94.58, "US"),
    ("Osaka", 34.69, 135.50, "JP"),
    ("Hamburg", 53.55, 9.99, "DE"),
    ("Nuremberg", 49.45, 11.08, "DE"),
]
# Hosts 50 km and more outside the claimed country (its land and waters).
OUTSIDE = [
    ("Nancy for DE", 48.69, 6.18, "DE"),
    ("Pacific off Chiba for JP", 34.6, 141.2, "JP"),
    ("Ottawa for US", 45.42, -75.70, "US"),
    ("Monterrey for US", 25.67, -100.31, "US"),
    ("Frankfurt for FR", 50.11, 8.68, "FR"),
    ("North Sea for DE", 54.6, 6.6, "DE"),
]


@pytest.mark.parametrize("calibrated", [False, True])
@pytest.mark.parametrize(("name", "lat", "lon", "code"), PROVABLE)
def test_provable_sites_are_proven(name: str, lat: float, lon: float, code: str, calibrated: bool) -> None:
    v, rtts = site(lat, lon, calibrated=calibrated)
    country, point = v.verify(rtts, [Claim.country("c", name, code), Claim.point("p", name, lat, lon)])
    assert country.verdict == "proven", (name, country.evidence)
    assert not country.suspicious and not point.suspicious, (country.evidence, point.evidence)
    assert "blocked_by" not in country.evidence


@pytest.mark.parametrize(("name", "lat", "lon", "code"), OUTSIDE)
def test_hosts_outside_are_never_proven(name: str, lat: float, lon: float, code: str) -> None:
    v, rtts = site(lat, lon)
    [r] = v.verify(rtts, [Claim.country("c", name, code)])
    assert r.verdict == "violation", (name, r.evidence)


def test_consistent_says_what_blocks_proven() -> None:
    """San Francisco's region reaches the open Pacific; Saarbrücken's, France; a far host's, everywhere."""
    v, rtts = site(37.77, -122.42)
    [r] = v.verify(rtts, [Claim.country("c", "sf", "US")])
    assert r.verdict == "consistent"
    kinds = {b["kind"] for b in r.evidence["blocked_by"]}
    assert kinds == {"sea"} and 0 < r.evidence["blocked_by"][0]["share"] < 0.5
    v, rtts = site(49.23, 7.0)
    [r] = v.verify(rtts, [Claim.country("c", "saar", "DE")])
    assert r.verdict == "consistent"
    assert r.evidence["blocked_by"][0] == {
        "kind": "country",
        "country": "FR",
        "share": pytest.approx(0.5, abs=0.3),
    }
    assert {"landmarks_used", "tightest", "claim", "likelihood_ratio"} <= set(r.evidence)
    v, rtts = site(49.23, 7.0, near_km=400.0, near_rtt=9.0)  # no landmark near: a region hundreds of km wide
    [r] = v.verify(rtts, [Claim.country("c", "saar", "DE")])
    assert r.verdict == "consistent"
    blocked = r.evidence["blocked_by"]
    assert blocked[-1] == {"kind": "landmarks", "tightest_bound_km": pytest.approx(899.4, abs=0.1)}
    assert {b.get("country") for b in blocked} >= {"FR", "NL", "BE"}
    assert sum(b.get("share", 0.0) for b in blocked) <= 1.0
    assert len([b for b in blocked if b["kind"] in ("country", "sea")]) <= 8
    if any(b["kind"] == "other_countries" for b in blocked):  # the smaller parts, summed
        assert blocked[-2]["kind"] == "other_countries" and blocked[-2]["count"] > 0


def test_a_sliver_across_the_border_is_named_by_refinement() -> None:
    """A site 60 km inside Bolivia whose nearer landmark lies 10 km toward Peru: that landmark's
    54 km disk crosses the border by about 4 km, too thin a sliver for the sampled ``blocked_by``.
    Refinement's witness names it: a place of the region, in Peru, that a person can check."""
    lat, lon = -16.72687, -68.44686
    near = [Landmark("a", -16.65816, -68.50725), Landmark("b", -16.74283, -68.43628)]
    far = [Landmark("lima", -12.05, -77.04), Landmark("santiago", -33.45, -70.67)]
    lms = near + far

    def rtt(lm: Landmark) -> float:  # 1.4 × the great circle at 2/3 c, and 0.1 ms per end
        return 2 * float(distance_km(lat, lon, lm.lat, lm.lon)) * 1.4 / (2 * KM_PER_MS) + 0.4

    rtts = {lm.id: rtt(lm) for lm in lms}
    [r] = Verifier(lms, load_countries()).verify(rtts, [Claim.country("c", "t", "BO")])
    assert r.verdict == "consistent"
    place = r.evidence["blocked_by"][0]
    assert place["kind"] == "place" and place["country"] == "PE", r.evidence["blocked_by"]
    # It is a place of the tolerant region: at most one disk (tolerance 1) leaves it out.
    outside = [
        lm.id
        for lm in lms
        if distance_km(place["lat"], place["lon"], lm.lat, lm.lon) > rtt(lm) * KM_PER_MS * 1.01
    ]
    assert len(outside) <= 1, outside
    assert r.evidence["blocked_by"][-1]["kind"] == "landmarks"


SITE_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
cities = st.sampled_from(
    [(lat, lon) for _, lat, lon, _ in PROVABLE] + [(48.86, 2.35), (-33.87, 151.21), (1.35, 103.82)]
)


@SITE_SETTINGS
@given(
    city=cities,
    near_km=st.floats(0.0, 40.0),
    extra_ms=st.floats(0.0, 0.5),
    bearing=st.floats(0.0, 360.0),
    offset_km=st.floats(0.0, 20.0),
    calibrated=st.booleans(),
)
def test_an_honest_host_next_to_a_landmark_is_never_suspicious(
    city: tuple[float, float],
    near_km: float,
    extra_ms: float,
    bearing: float,
    offset_km: float,
    calibrated: bool,
) -> None:
    """RTT under 1 ms to the nearest landmarks (any distance the bound allows), honest elsewhere."""
    v, rtts = site(*city, calibrated=calibrated)
    host = _towards(*city, offset_km, bearing)
    for lm in v.landmarks.landmarks:
        d = float(distance_km(host[0], host[1], lm.lat, lm.lon))
        rtts[lm.id] = d / KM_PER_MS + extra_ms if lm.id.startswith("near") else _rtt(d)
    nearest = min(rtts.values())
    if nearest >= 1.0:
        return
    countries = load_countries()
    code = countries.country_at(*host)
    claims = [Claim.point("p", "h", *host)]
    if code and int(countries.grid.cell_of(*host)) in set(countries.areas[code].full.tolist()):
        claims.append(Claim.country("c", "h", code))  # a cell wholly in the country: an honest claim
    for r in v.verify(rtts, claims):
        assert r.verdict != "violation"
        assert not r.suspicious, r.evidence


def test_a_host_adding_delay_to_look_elsewhere_is_still_flagged() -> None:
    """Frankfurt claims Paris: it delays every reply to look as far as Paris would, but cannot
    make Paris's landmark answer sooner."""
    paris, frankfurt = (48.86, 2.35), (50.11, 8.68)
    for calibrated in (False, True):
        v, _ = site(*paris, calibrated=calibrated)
        rtts = {}
        for lm in v.landmarks.landmarks:
            honest = _rtt(float(distance_km(*frankfurt, lm.lat, lm.lon)))
            as_paris = _rtt(float(distance_km(*paris, lm.lat, lm.lon)))
            rtts[lm.id] = max(honest, as_paris)
        point, country = v.verify(rtts, [Claim.point("p", "h", *paris), Claim.country("c", "h", "FR")])
        assert point.suspicious or point.verdict == "violation", point.evidence
        assert country.verdict != "proven"


@SITE_SETTINGS
@given(
    city=cities,
    near_rtt=st.floats(0.2, 4.0),
    bearing=st.floats(0.0, 360.0),
    offset_km=st.floats(0.0, 30.0),
)
def test_radius_stays_within_the_tightest_bound(
    city: tuple[float, float], near_rtt: float, bearing: float, offset_km: float
) -> None:
    v, rtts = site(*city, near_rtt=max(near_rtt, 0.11))
    host = _towards(*city, offset_km, bearing)
    for lm in v.landmarks.landmarks:
        d = float(distance_km(host[0], host[1], lm.lat, lm.lon))
        rtts[lm.id] = max(d / KM_PER_MS, near_rtt) if lm.id.startswith("near") else _rtt(d)
    [r] = v.verify(rtts, [Claim.point("p", "h", *host)])
    e = r.estimate
    assert e.lat is not None and e.lon is not None and e.radius_km is not None
    reach = min(
        float(distance_km(e.lat, e.lon, lm.lat, lm.lon)) + float(SpeedModel().max_distance_km(rtts[lm.id]))
        for lm in v.landmarks.landmarks
    )
    assert e.radius_km <= reach * 1.01 + 0.1


def test_two_ms_from_a_landmark_is_not_hundreds_of_km() -> None:
    v, rtts = site(50.11, 8.68, near_km=20.0, near_rtt=2.0)
    [r] = v.verify(rtts, [Claim.point("p", "h", 50.11, 8.68)])
    assert r.estimate.radius_km is not None and r.estimate.radius_km <= 20.0 + 2.0 * KM_PER_MS + 25.0


@SITE_SETTINGS
@given(
    city=cities,
    slack=st.lists(st.tuples(st.floats(1.0, 2.5), st.floats(0.0, 8.0)), min_size=14, max_size=14),
    near_km=st.floats(1.0, 60.0),
)
def test_proven_is_never_suspicious(
    city: tuple[float, float], slack: list[tuple[float, float]], near_km: float
) -> None:
    """Whatever the model thinks of the RTTs (inflated at random), a claim shown true is not flagged."""
    v, rtts = site(*city, near_km=near_km)
    for lm, (a, b) in zip(v.landmarks.landmarks, slack, strict=False):
        rtts[lm.id] = float(distance_km(*city, lm.lat, lm.lon)) / KM_PER_MS * a + b
    code = load_countries().country_at(*city)
    assert code is not None
    [r] = v.verify(rtts, [Claim.country("c", "h", code)])
    assert not (r.verdict == "proven" and r.suspicious), r.evidence


def test_region_claims_say_what_blocks_proven_too() -> None:
    """A box around part of the region: the rest is a country's with a table, "outside" without one."""
    lat, lon = 50.11, 8.68
    box = [[lon - 0.2, lat - 0.2], [lon + 0.2, lat - 0.2], [lon + 0.2, lat + 0.2], [lon - 0.2, lat + 0.2]]
    region = {"type": "Polygon", "coordinates": [[*box, box[0]]]}
    v, rtts = site(lat, lon)
    claim = [Claim.in_region("r", "h", region, "frankfurt-box")]
    [r] = v.verify(rtts, claim)
    assert r.verdict == "consistent"
    assert r.evidence["blocked_by"][0]["kind"] == "country" and r.evidence["blocked_by"][0]["country"] == "DE"
    [r] = Verifier(v.landmarks.landmarks).verify(rtts, claim)
    assert r.verdict == "consistent"
    assert [b["kind"] for b in r.evidence["blocked_by"]] == ["outside"]
    assert 0.5 < r.evidence["blocked_by"][0]["share"] < 1.0


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(
    code=st.sampled_from(["US", "JP", "DE", "GB", "NO", "IT", "AU"]),
    pick=st.integers(0, 10**9),
    frac=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    near_rtt=st.floats(0.1, 0.47),
)
def test_a_region_of_full_cells_is_proven(
    code: str, pick: int, frac: tuple[float, float], near_rtt: float
) -> None:
    """A host by the sea (in a cell that is partly water and wholly claimed) whose whole region lies in
    cells wholly claimed is proven: the waters the cells hold are the country's."""
    countries = load_countries()
    grid, area = countries.grid, countries.areas[code]
    frac_of = dict(zip(area.touched.tolist(), area.fraction.tolist(), strict=True))
    coastal = np.array([c for c in area.full.tolist() if frac_of[c] < 1.0])
    cell = int(coastal[pick % coastal.size])
    clat, clon = grid.center_latlon(np.array([cell]))
    res = grid.resolution_deg
    lat, lon = float(clat[0]) + (frac[0] - 0.5) * res, float(clon[0]) + (frac[1] - 0.5) * res
    v, rtts = site(lat, lon, near_km=2.0, near_rtt=near_rtt)
    reach_km = 2.0 + near_rtt * KM_PER_MS * 1.01 + 1.0  # every place of the region is this close
    around = grid.cap_cells(lat, lon, reach_km / 6371.0)
    host = unit_vectors(lat, lon).reshape(3)
    close = around[
        np.arccos(np.clip(grid.centers[around] @ host, -1, 1)) * 6371.0
        <= reach_km + grid.cell_margin(around) * 6371.0
    ]
    assume(bool(np.all(np.isin(close, area.full))))
    [r] = v.verify(rtts, [Claim.country("c", "h", code)])
    assert r.verdict == "proven", r.evidence


@pytest.mark.parametrize("batched", [True, False])
def test_verdicts_only_are_the_same_verdicts_without_blocked_by(batched: bool) -> None:
    """``explain = False`` (as the planner asks) changes no verdict and only drops ``blocked_by``."""
    cases = [(37.77, -122.42, "US"), (49.23, 7.0, "DE"), (50.11, 8.68, "DE"), (49.23, 7.0, "FR")]
    for lat, lon, code in cases:
        v, rtts = site(lat, lon)
        v.batched = batched
        claims = [Claim.country("c", "t", code)]
        full = v.verify(rtts, claims)
        v.explain = False
        bare = v.verify(rtts, claims)
        assert [(r.verdict, r.suspicious) for r in bare] == [(r.verdict, r.suspicious) for r in full]
        for a, b in zip(full, bare, strict=True):
            assert "blocked_by" not in b.evidence
            assert {k: x for k, x in a.evidence.items() if k != "blocked_by"} == b.evidence
        assert any("blocked_by" in r.evidence for r in full) == (full[0].verdict == "consistent")
