"""Property tests for the guarantees the verdicts rest on.

RTTs are generated at or above the physical minimum for the true distance (any
extra delay, as routes and hosts add); the engine must then never call the truth a
``violation``, even when one landmark lies about where it is, and never call a
claim that excludes the truth ``proven``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from fleetproof.geo import Claim, Landmark, MeshLink, SpeedModel, Verifier, distance_km, vet_landmarks
from fleetproof.geodata import load_countries

SPEED = SpeedModel()
KM_PER_MS = SPEED.v_max_km_per_ms / 2

lat_st = st.floats(-85.0, 85.0)
lon_st = st.floats(-180.0, 180.0)
point_st = st.tuples(lat_st, lon_st)
slack_st = st.tuples(st.floats(1.0, 3.0), st.floats(0.0, 30.0))  # RTT = physical minimum × a + b
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


def honest_rtts(
    truth: tuple[float, float], lms: list[Landmark], slack: list[tuple[float, float]]
) -> dict[str, float]:
    out = {}
    for lm, (a, b) in zip(lms, slack, strict=False):
        d = float(distance_km(truth[0], truth[1], lm.lat, lm.lon))
        out[lm.id] = d / KM_PER_MS * a + b
    return out


def make_landmarks(points: list[tuple[float, float]]) -> list[Landmark]:
    return [Landmark(f"L{i}", lat, lon) for i, (lat, lon) in enumerate(points)]


@SETTINGS
@given(
    truth=point_st,
    points=st.lists(point_st, min_size=3, max_size=12),
    slack=st.lists(slack_st, min_size=12, max_size=12),
)
def test_true_position_is_never_a_violation(
    truth: tuple[float, float], points: list[tuple[float, float]], slack: list[tuple[float, float]]
) -> None:
    lms = make_landmarks(points)
    rtts = honest_rtts(truth, lms, slack)
    [r] = Verifier(lms).verify(rtts, [Claim.point("self", "t", *truth)])
    assert r.verdict != "violation", r.evidence


@SETTINGS
@given(
    truth=point_st,
    points=st.lists(point_st, min_size=3, max_size=10),
    slack=st.lists(slack_st, min_size=10, max_size=10),
    liar=st.integers(0, 9),
    lie_ms=st.floats(0.0, 5.0),
)
def test_one_mislocated_landmark_never_causes_a_violation(
    truth: tuple[float, float],
    points: list[tuple[float, float]],
    slack: list[tuple[float, float]],
    liar: int,
    lie_ms: float,
) -> None:
    lms = make_landmarks(points)
    rtts = honest_rtts(truth, lms, slack)
    rtts[lms[liar % len(lms)].id] = lie_ms  # answers as if it were next door, wherever it is advertised
    [r] = Verifier(lms).verify(rtts, [Claim.point("self", "t", *truth)])
    assert r.verdict != "violation", r.evidence


@SETTINGS
@given(
    truth=point_st,
    points=st.lists(point_st, min_size=3, max_size=10),
    slack=st.lists(slack_st, min_size=10, max_size=10),
    code_index=st.integers(0, 10_000),
)
def test_country_claims_sound_both_ways(
    truth: tuple[float, float],
    points: list[tuple[float, float]],
    slack: list[tuple[float, float]],
    code_index: int,
) -> None:
    countries = load_countries()
    lms = make_landmarks(points)
    rtts = honest_rtts(truth, lms, slack)
    v = Verifier(lms, countries)
    cell = int(countries.grid.cell_of(*truth))
    home = countries.country_at(*truth)
    other = countries.codes[code_index % len(countries.codes)]
    claims = [Claim.country("other", "t", other)]
    if home is not None:
        claims.append(Claim.country("home", "t", home))
    results = {r.claim: r for r in v.verify(rtts, claims)}
    if home is not None:  # the truth's cell touches its country: never a violation
        assert results["home"].verdict != "violation", results["home"].evidence
    if cell not in set(countries.areas[other].full.tolist()):  # the claim may exclude the truth: never proven
        assert results["other"].verdict != "proven", results["other"].evidence


@SETTINGS
@given(
    truth=point_st,
    claim=point_st,
    points=st.lists(point_st, min_size=3, max_size=10),
    slack=st.lists(slack_st, min_size=10, max_size=10),
)
def test_claims_disproved_with_margin_are_violations(
    truth: tuple[float, float],
    claim: tuple[float, float],
    points: list[tuple[float, float]],
    slack: list[tuple[float, float]],
) -> None:
    lms = make_landmarks(points)
    rtts = honest_rtts(truth, lms, slack)
    margin_km = 20.0
    disproving = sum(
        float(distance_km(claim[0], claim[1], lm.lat, lm.lon))
        > float(SPEED.max_distance_km(rtts[lm.id])) * 1.01 + margin_km
        for lm in lms
    )
    assume(disproving >= 2)
    [r] = Verifier(lms).verify(rtts, [Claim.point("c", "t", *claim)])
    assert r.verdict == "violation"
    assert r.evidence["contradicting_count"] >= 2


@SETTINGS
@given(
    points=st.lists(point_st, min_size=6, max_size=14, unique=True),
    slack=st.lists(st.floats(1.05, 2.5), min_size=14 * 14, max_size=14 * 14),
    bad=st.integers(0, 13),
    fake=point_st,
)
def test_vetting_quarantines_a_planted_mislocated_landmark(
    points: list[tuple[float, float]], slack: list[float], bad: int, fake: tuple[float, float]
) -> None:
    bad %= len(points)
    true_pos = points[bad]
    assume(float(distance_km(true_pos[0], true_pos[1], fake[0], fake[1])) > 2000)
    advertised = list(points)
    advertised[bad] = fake
    lms = make_landmarks(advertised)
    mesh = []
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            d = float(distance_km(*points[i], *points[j]))
            mesh.append(MeshLink(lms[i].id, lms[j].id, d / KM_PER_MS * slack[i * 14 + j] + 0.1))
    rep = vet_landmarks(lms, mesh)
    involved = [c for c in rep.conflicts if lms[bad].id in (c.a, c.b)]
    assume(len(involved) >= 2)  # detectable: contradicted by at least two honest landmarks
    assert [q.id for q in rep.quarantined] == [lms[bad].id]
    assert set(rep.trusted) == {lm.id for lm in lms} - {lms[bad].id}
    doc = rep.to_json()
    assert doc["quarantined"][0]["id"] == lms[bad].id and "speed bound" in doc["quarantined"][0]["reason"]


# ----- refinement at the edges of the grid: sound on sub-cells too
near_st = st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5))  # landmark offsets from the truth, degrees
tight_st = st.tuples(st.floats(1.0, 1.1), st.floats(0.0, 0.2))  # tight RTTs: small disks, refinement at work
size_st = st.floats(0.001, 0.6)


def nearby_landmarks(truth: tuple[float, float], offsets: list[tuple[float, float]]) -> list[Landmark]:
    return make_landmarks(
        [(min(max(truth[0] + a, -89.0), 89.0), (truth[1] + b + 180.0) % 360.0 - 180.0) for a, b in offsets]
    )


def box_region(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, object]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


@SETTINGS
@given(
    truth=st.tuples(st.floats(-80.0, 80.0), st.floats(-170.0, 170.0)),
    offsets=st.lists(near_st, min_size=3, max_size=8),
    slack=st.lists(tight_st, min_size=8, max_size=8),
    sizes=st.tuples(size_st, size_st, size_st, size_st),
    gap=st.floats(0.0001, 0.6),
    side=st.integers(0, 3),
    tolerance=st.integers(0, 2),
)
def test_refined_region_claims_sound_both_ways(
    truth: tuple[float, float],
    offsets: list[tuple[float, float]],
    slack: list[tuple[float, float]],
    sizes: tuple[float, float, float, float],
    gap: float,
    side: int,
    tolerance: int,
) -> None:
    """A box holding the truth is never a violation; a box beside it (any side) never proven."""
    lms = nearby_landmarks(truth, offsets)
    rtts = honest_rtts(truth, lms, slack)
    lat, lon = truth
    w0, w1, h0, h1 = sizes
    around = box_region(lon - w0, lat - h0, lon + w1, lat + h1)
    beside = [
        box_region(lon + gap, lat - h0, lon + gap + w1, lat + h1),
        box_region(lon - gap - w0, lat - h0, lon - gap, lat + h1),
        box_region(lon - w0, lat + gap, lon + w1, lat + gap + h1),
        box_region(lon - w0, lat - gap - h0, lon + w1, lat - gap),
    ][side]
    claims = [Claim.in_region("around", "t", around, "a"), Claim.in_region("beside", "t", beside, "b")]
    results = {r.claim: r for r in Verifier(lms, tolerance=tolerance).verify(rtts, claims)}
    for r in results.values():
        event(f"{r.claim}: {r.verdict}{', refined' if 'refined' in r.evidence else ''}")
    assert results["around"].verdict != "violation", results["around"].evidence
    assert results["beside"].verdict != "proven", results["beside"].evidence
