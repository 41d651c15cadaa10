"""The plan's predictions are the engine's verdicts: RTTs made from the same delay model, given to
the server's own engine wrapper with every landmark (no pruning), give exactly what the plan says —
at the modelled RTTs, at each proof budget, and one budget step above it."""

from __future__ import annotations

import numpy as np
import pytest

from fleetproof.geo import Landmark, Verifier, distance_km
from fleetproof.plan.core import SitePlan
from fleetproof.server.engine import GeoVerifier
from fleetproof.server.pipeline import LandmarkInput, Round, ZonePolicy

from .conftest import CANDIDATES, LANDMARKS, SITES, ZONES, Planned


def _deployment(planned: Planned, with_added: bool) -> list[Landmark]:
    """The landmarks a host measures: the existing ones, plus every landmark the plan adds."""
    lms = list(LANDMARKS)
    if with_added:
        lms += [Landmark(a.id, a.lat, a.lon) for a in planned.plan.added]
    return lms


def _rtts(planned: Planned, p: SitePlan, landmarks: list[Landmark]) -> dict[str, float]:
    d = distance_km(p.site.lat, p.site.lon, [lm.lat for lm in landmarks], [lm.lon for lm in landmarks])
    rtt = planned.plan.delay.rtt_ms(d)
    return {lm.id: float(r) for lm, r in zip(landmarks, rtt, strict=True)}


def _server_verdict(planned: Planned, p: SitePlan, landmarks: list[Landmark], rtts: dict[str, float]) -> str:
    zone = ZONES[p.site.zone]
    policy = ZonePolicy(
        zone.id,
        zone.countries,
        dict(zone.region) if zone.region is not None else None,
        *(zone.site or (None, None)),
    )
    lms = [LandmarkInput(lm.id, lm.lat, lm.lon) for lm in landmarks]
    engine = GeoVerifier(countries=planned.countries)
    return engine.verify(Round(p.site.id, rtts, lms, policy)).verdict


def test_the_fleet_has_every_kind_of_site(planned: Planned) -> None:
    plans = {p.site.id: p for p in planned.plan.sites}
    assert plans["s-fra"].provable_now and plans["s-fra-region"].provable_now
    assert not plans["s-ber"].provable_now and plans["s-ber"].provable_with_added
    assert plans["s-muc"].added == ("munich.1", "munich.2")
    assert "6 km from its zone's border" in (plans["s-karlsruhe"].why_not or "")
    assert "outside its zone" in (plans["s-paris-in-de"].why_not or "")
    assert "not in the zones file" in (plans["s-unknown"].why_not or "")
    assert "never a point" in (plans["s-point"].why_not or "")
    assert "no candidate place is near enough" in (plans["s-kassel"].why_not or "")
    assert "country XA is not in the engine's country table" in (plans["s-atlantis"].why_not or "")
    assert plans["s-atlantis"].verdict_now is None
    assert len(SITES) == len(planned.plan.sites)


@pytest.mark.parametrize("site", [s.id for s in SITES if s.zone in ZONES and s.zone != "atlantis"])
def test_modelled_rtts_give_the_predicted_verdict(planned: Planned, site: str) -> None:
    p = next(x for x in planned.plan.sites if x.site.id == site)
    now = _deployment(planned, with_added=False)
    verdict = _server_verdict(planned, p, now, _rtts(planned, p, now))
    assert (verdict == "proven") == p.provable_now
    if p.verdict_now is not None:
        assert verdict == p.verdict_now
    if p.verdict_with_added is not None:
        full = _deployment(planned, with_added=True)
        assert _server_verdict(planned, p, full, _rtts(planned, p, full)) == p.verdict_with_added


def test_a_site_not_provable_now_is_made_provable_by_the_greedy_choice(planned: Planned) -> None:
    helped = [p for p in planned.plan.sites if p.provable_with_added]
    assert len(helped) >= 4
    full = _deployment(planned, with_added=True)
    for p in helped:
        assert _server_verdict(planned, p, full, _rtts(planned, p, full)) == "proven"
        # Each of the site's own added landmarks is needed: without them it is not proven.
        others = [lm for lm in full if lm.id not in p.added]
        assert _server_verdict(planned, p, others, _rtts(planned, p, others)) != "proven"


def test_budgets_are_where_the_engine_stops_proving(planned: Planned) -> None:
    """Budget RTT → proven; one step above → not proven; every other landmark as modelled."""
    checked = 0
    countries = planned.countries
    for p in planned.plan.sites:
        if not p.proof:
            continue
        landmarks = _deployment(planned, with_added=not p.provable_now)
        verifier = Verifier(landmarks, countries)  # the server's defaults
        claim = ZONES[p.site.zone].claim(p.site.id)
        assert claim is not None
        base = _rtts(planned, p, landmarks)
        for lm in p.proof:
            assert base[lm.landmark] == pytest.approx(lm.modelled_rtt_ms, abs=1e-3)
            if lm.budget_rtt_ms is None:
                continue
            at = verifier.verify({**base, lm.landmark: lm.budget_rtt_ms}, [claim])[0].verdict
            assert lm.not_proven_at_ms is not None
            above = verifier.verify({**base, lm.landmark: lm.not_proven_at_ms}, [claim])[0].verdict
            assert (at, above) != ("proven", "proven")
            assert at == "proven", (p.site.id, lm)
            assert above != "proven", (p.site.id, lm)
            assert lm.not_proven_at_ms - lm.budget_rtt_ms == pytest.approx(
                planned.plan.budget_step_ms, abs=1e-3
            )
            checked += 1
    assert checked >= 8


def test_no_budget_means_any_rtt_keeps_the_proof(planned: Planned) -> None:
    """A landmark without a budget may show an RTT whose disk holds the whole Earth."""
    spare = [(p, lm) for p in planned.plan.sites for lm in p.proof if lm.budget_rtt_ms is None]
    for p, lm in spare:
        landmarks = _deployment(planned, with_added=not p.provable_now)
        claim = ZONES[p.site.zone].claim(p.site.id)
        assert claim is not None
        rtts = {**_rtts(planned, p, landmarks), lm.landmark: 250.0}
        assert Verifier(landmarks, planned.countries).verify(rtts, [claim])[0].verdict == "proven"


def test_candidates_are_the_only_places_added(planned: Planned) -> None:
    places = {c.id: c for c in CANDIDATES}
    for a in planned.plan.added:
        c = places[a.candidate]
        assert (a.lat, a.lon) == (c.lat, c.lon)
        assert a.sites >= 1
    # No place gets more landmarks than the tolerance needs.
    counts: dict[str, int] = {}
    for a in planned.plan.added:
        counts[a.candidate] = counts.get(a.candidate, 0) + 1
    assert max(counts.values()) <= planned.plan.engine.tolerance + 1
    assert np.isfinite([a.lat for a in planned.plan.added]).all()
