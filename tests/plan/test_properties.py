"""Properties over random deployments: the plan's verdict is the full engine's, and the model is
invertible where the budget search relies on it."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetproof.geo import Landmark, Verifier, distance_km
from fleetproof.geodata import load_countries, load_country_edges
from fleetproof.plan.core import Site, make_plan
from fleetproof.plan.model import DelayPlan
from fleetproof.plan.zones import Zone

#: (country, lat range, lon range): boxes of land well inside, near borders and coasts alike.
BOXES = [
    ("DE", (47.8, 54.5), (6.2, 14.8)),
    ("FR", (43.5, 49.5), (-1.0, 7.0)),
    ("ES", (37.0, 43.0), (-8.0, 2.5)),
]
FAR = [Landmark("far-1", 59.33, 18.07), Landmark("far-2", 41.9, 12.5), Landmark("far-3", 51.51, -0.13)]


def _offset(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    d = km / 6371.0088
    p1, l1 = np.radians(lat), np.radians(lon)
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(bearing))
    l2 = l1 + np.arctan2(np.sin(bearing) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    return float(np.degrees(p2)), float(np.degrees(l2))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    box=st.sampled_from(BOXES),
    u=st.floats(0.0, 1.0),
    v=st.floats(0.0, 1.0),
    dists=st.lists(st.floats(0.0, 40.0), min_size=2, max_size=2),
    bearings=st.lists(st.floats(0.0, 6.28), min_size=2, max_size=2),
    access=st.sampled_from([0.0, 0.05, 0.1, 0.3]),
    inflation=st.floats(1.0, 2.0),
)
def test_plan_verdict_is_the_full_engine_verdict(
    box: tuple[str, tuple[float, float], tuple[float, float]],
    u: float,
    v: float,
    dists: list[float],
    bearings: list[float],
    access: float,
    inflation: float,
) -> None:
    countries = load_countries()
    code, (la0, la1), (lo0, lo1) = box
    lat, lon = la0 + u * (la1 - la0), lo0 + v * (lo1 - lo0)
    near = [Landmark(f"near-{k}", *_offset(lat, lon, dists[k], bearings[k])) for k in range(2)]
    landmarks = near + FAR
    delay = DelayPlan(inflation=inflation, access_ms=access)
    zone = Zone("z", (code,))
    plan = make_plan(
        [Site("s", lat, lon, "z")], {"z": zone}, landmarks, [], countries, load_country_edges(), delay
    )
    p = plan.sites[0]
    claim = zone.claim("s")
    assert claim is not None
    d = distance_km(lat, lon, [lm.lat for lm in landmarks], [lm.lon for lm in landmarks])
    rtts = dict(zip([lm.id for lm in landmarks], delay.rtt_ms(d).tolist(), strict=True))
    verdict = Verifier(landmarks, countries).verify(rtts, [claim])[0].verdict
    assert verdict == p.verdict_now
    assert bool(p.proof) == (verdict == "proven")
    headroom = p.joint_budget_ms is None or p.joint_budget_ms >= plan.min_headroom_ms
    assert p.provable_now == (verdict == "proven" and headroom)
    if verdict == "proven" and not headroom:
        assert (p.why_not or "").startswith("no headroom: budget")
    for lm in p.proof:
        if lm.budget_rtt_ms is not None:
            at = Verifier(landmarks, countries).verify({**rtts, lm.landmark: lm.budget_rtt_ms}, [claim])[0]
            assert at.verdict == "proven"
    if p.joint_budget_ms is not None:
        raised = {lm.landmark: rtts[lm.landmark] + p.joint_budget_ms for lm in p.proof}
        assert Verifier(landmarks, countries).verify({**rtts, **raised}, [claim])[0].verdict == "proven"


@given(
    km=st.floats(0.0, 20000.0),
    inflation=st.floats(1.0, 3.0),
    access=st.floats(0.0, 5.0),
)
def test_reach_and_rtt_are_inverse(km: float, inflation: float, access: float) -> None:
    delay = DelayPlan(inflation=inflation, access_ms=access)
    rtt = float(delay.rtt_ms(km))
    assert abs(float(delay.rtt_for_reach_ms(delay.reach_km(km))) - rtt) <= 1e-9 * max(1.0, rtt)
    # The disk always holds the site: reach ≥ distance, by at least the access delay's share.
    assert float(delay.reach_km(km)) >= km + 2 * access * delay.speed.v_max_km_per_ms - 1e-6
