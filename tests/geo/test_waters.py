"""Territorial waters: a country claim holds its land and the sea within 12 nm nearest to it.

Checked against a slow, independent reference (:func:`in_claim`): land by the even–odd
rule on each country's whole edge list; at sea, great-circle distances to edges
densified every 25 m, so a distance errs by metres, far below the margin within which
the reference declines to answer.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from fleetproof.geo import Claim, Landmark, SpeedModel, Verifier, distance_km
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
