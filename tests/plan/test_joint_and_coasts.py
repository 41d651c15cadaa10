"""Joint budgets, the headroom rule, the landmarks a host must measure, and coastal sites.

Every check is against the engine itself (``Verifier``, or the server's ``GeoVerifier``) with RTTs
from the plan's delay model: the plan's verdicts are the engine's.
"""

from __future__ import annotations

import numpy as np
import pytest

from fleetproof.geo import CountryTable, Landmark, Verifier, distance_km
from fleetproof.geodata import load_countries, load_country_edges
from fleetproof.plan.core import Plan, Site, SitePlan, make_plan
from fleetproof.plan.zones import Zone, ZoneGeometry
from fleetproof.server.engine import GeoVerifier
from fleetproof.server.pipeline import LandmarkInput, Round, ZonePolicy

from .conftest import LANDMARKS, ZONES, Planned
from .test_properties import _offset

FAR = [Landmark("par", 48.86, 2.35), Landmark("mad", 40.42, -3.70), Landmark("lon", 51.51, -0.13)]
FR = {"fr": Zone("fr", ("FR",)), "dk": Zone("dk", ("DK",))}
#: On the Atlantic coast of the Landes (a straight coast, no neighbour within reach), by distance
#: inland; and one off the coast of Copenhagen, in Denmark's waters.
COAST_SITES = [
    Site("landes-27", 44.0, -1.0, "fr"),
    Site("landes-20", 44.0, -1.09, "fr"),
    Site("landes-4", 44.0, -1.3, "fr"),
    Site("copenhagen-sea", 55.68, 12.57, "dk"),
]


def _seaward(sites: list[Site]) -> list[Landmark]:
    """Two landmarks per site, 1 and 3 km west of it: toward the sea."""
    return [
        Landmark(f"{s.id}-w{k}", *_offset(s.lat, s.lon, km, -np.pi / 2))
        for s in sites
        for k, km in enumerate((1.0, 3.0))
    ]


def _rtts(plan: Plan, p: SitePlan, landmarks: list[Landmark]) -> dict[str, float]:
    d = distance_km(p.site.lat, p.site.lon, [lm.lat for lm in landmarks], [lm.lon for lm in landmarks])
    return {lm.id: float(r) for lm, r in zip(landmarks, plan.delay.rtt_ms(d), strict=True)}


def _server(
    countries: CountryTable, zone: Zone, p: SitePlan, lms: list[Landmark], rtts: dict[str, float]
) -> str:
    policy = ZonePolicy(zone.id, zone.countries, None, None, None)
    inputs = [LandmarkInput(lm.id, lm.lat, lm.lon) for lm in lms]
    return GeoVerifier(countries=countries).verify(Round(p.site.id, rtts, inputs, policy)).verdict


def _deployment(plan: Plan, existing: list[Landmark], p: SitePlan) -> list[Landmark]:
    return existing + ([Landmark(a.id, a.lat, a.lon) for a in plan.added] if not p.provable_now else [])


def test_joint_budget_is_where_the_engine_stops_proving(planned: Planned) -> None:
    """All proving landmarks raised by the joint budget: proven; one grid step more: not."""
    plan, checked = planned.plan, 0
    for p in plan.sites:
        if not p.proof or p.joint_budget_ms is None:
            continue
        landmarks = _deployment(plan, list(LANDMARKS), p)
        claim = ZONES[p.site.zone].claim(p.site.id)
        assert claim is not None
        base = _rtts(plan, p, landmarks)
        verifier = Verifier(landmarks, planned.countries)

        def raised(extra: float, p: SitePlan = p, base: dict[str, float] = base) -> dict[str, float]:
            return {**base, **{lm.landmark: base[lm.landmark] + extra for lm in p.proof}}

        assert verifier.verify(raised(p.joint_budget_ms), [claim])[0].verdict == "proven", p.site.id
        assert p.joint_not_proven_ms is not None
        assert p.joint_not_proven_ms - p.joint_budget_ms == pytest.approx(plan.budget_step_ms, abs=1e-6)
        assert verifier.verify(raised(p.joint_not_proven_ms), [claim])[0].verdict != "proven", p.site.id
        # Raising one landmark alone is never worse than raising them all.
        for lm in p.proof:
            if lm.headroom_ms is not None:
                assert lm.headroom_ms >= p.joint_budget_ms - plan.budget_step_ms
        checked += 1
    assert checked >= 5


def test_the_measure_list_is_enough_for_the_proof(planned: Planned) -> None:
    """A host measuring only its site's ``measure`` landmarks is proven by the server, at the modelled
    RTTs and with every proving landmark at the joint budget."""
    plan, checked = planned.plan, 0
    for p in plan.sites:
        if not (p.provable_now or p.provable_with_added):
            assert p.measure == () or not p.proof or p.why_not
            continue
        full = _deployment(plan, list(LANDMARKS), p)
        assert {lm.landmark for lm in p.proof} <= set(p.measure)
        assert len(p.measure) >= plan.engine.min_landmarks
        mine = [lm for lm in full if lm.id in set(p.measure)]
        assert len(mine) == len(p.measure)
        rtts = _rtts(plan, p, mine)
        zone = ZONES[p.site.zone]
        if zone.region is not None:
            continue  # the server's region policy is checked in test_engine_agreement
        assert _server(planned.countries, zone, p, mine, rtts) == "proven", p.site.id
        if p.joint_budget_ms is not None:
            up = {**rtts, **{lm.landmark: rtts[lm.landmark] + p.joint_budget_ms for lm in p.proof}}
            assert _server(planned.countries, zone, p, mine, up) == "proven", p.site.id
        checked += 1
    assert checked >= 4


@pytest.fixture(scope="module")
def coastal() -> tuple[Plan, list[Landmark]]:
    landmarks = _seaward(COAST_SITES) + FAR
    return make_plan(COAST_SITES, FR, landmarks, [], load_countries(), load_country_edges()), landmarks


def test_coastal_sites_give_the_engines_verdicts(coastal: tuple[Plan, list[Landmark]]) -> None:
    plan, landmarks = coastal
    countries = load_countries()
    for p in plan.sites:
        rtts = _rtts(plan, p, landmarks)
        verdict = _server(countries, FR[p.site.zone], p, landmarks, rtts)
        assert verdict == p.verdict_now, p.site.id
        assert bool(p.proof) == (verdict == "proven")
    by = {p.site.id: p for p in plan.sites}
    # 27 km inland, nearer the coast than the smallest disk (40 km) plus the engine's margin: only the
    # waters let the engine prove it — and the seaward landmarks leave it no headroom at all.
    assert by["landes-27"].verdict_now == "proven"
    assert by["landes-27"].joint_budget_ms == 0.0 and not by["landes-27"].provable_now
    assert (by["landes-27"].why_not or "").startswith("no headroom: budget 0.4140 ms vs modelled 0.4140 ms")
    # Its room counts the waters: the land outline is 27.6 km away, the open sea 22 km farther.
    assert by["landes-27"].border_km == pytest.approx(49.8, abs=0.5)
    assert by["landes-20"].border_km == pytest.approx(42.7, abs=0.5)
    # 4 km inland: within the smallest disk of the sea beyond the waters.
    assert "smallest disk" in (by["landes-4"].why_not or "")
    # Off Copenhagen, in Denmark's waters: inside the claim, nearer Sweden's waters than 22 km.
    sea = by["copenhagen-sea"]
    assert sea.border_km is not None and 5.0 < sea.border_km < 22.224
    assert "outside its zone" not in (sea.why_not or "")


def test_waters_room_agrees_with_the_engines_claim() -> None:
    """The room is a lower bound: a point that far from a place, in any direction, is still claimed."""
    countries = load_countries()
    geo = ZoneGeometry.of(Zone("fr", ("FR",)), countries.grid, load_country_edges(), countries.coasts())
    assert geo is not None and geo.waters is not None
    lat, lon = np.array([44.0, 44.0, 43.3]), np.array([-1.0, -1.2, 5.4])
    room = geo.border_km(lat, lon)
    for la, lo, r in zip(lat.tolist(), lon.tolist(), room.tolist(), strict=True):
        ring = [_offset(la, lo, 0.98 * r, b) for b in np.linspace(0, 2 * np.pi, 72, endpoint=False)]
        assert geo.inside(np.array([q[0] for q in ring]), np.array([q[1] for q in ring])).all(), (la, lo, r)


def test_added_landmarks_give_headroom_a_proof_lacked() -> None:
    """A site proven now with too little joint margin asks for candidates that give it some."""
    site = Site("landes-35", 44.0, -0.9, "fr")
    landmarks = _seaward([site]) + FAR
    inland = [Landmark("inland", 44.0, -0.92)]
    countries, edges = load_countries(), load_country_edges()
    plan = make_plan([site], FR, landmarks, inland, countries, edges)
    p = plan.sites[0]
    assert p.verdict_now == "proven" and not p.provable_now
    assert p.provable_with_added and p.added == ("inland.1",)
    assert p.joint_budget_ms is not None and p.joint_budget_ms >= plan.min_headroom_ms
    # Demanding more headroom than any deployment gives: not provable, and the reason says why.
    strict = make_plan([site], FR, landmarks, inland, countries, edges, min_headroom_ms=5.0)
    q = strict.sites[0]
    assert not q.provable_now and not q.provable_with_added
    assert (q.why_not or "").startswith("no headroom: budget")
    assert strict.added == []
