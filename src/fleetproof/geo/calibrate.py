"""Calibration on the landmark mesh: access delays, the delay model and the suspicion threshold.

1. *Access delays.* A landmark's slowest fixed cost (its uplink, its host) adds
   to every RTT it measures. Half its smallest excess over the physical minimum
   (``min_j (rtt_ij − d_ij / v)``, with ``v`` the speed bound per ms of RTT) is
   taken as its access delay and subtracted before the model is applied — the
   intercept of CBG's "bestline" (Gueye et al., 2006) with the slope fixed at the
   physical one. A real target never takes part in that minimum, so when a
   landmark plays a target in step 2 the others' access delays are taken without
   it: a target may be the one place a landmark reaches faster than all the
   others, and the model must have seen that happen (ratios above 1) rather than
   treat it as nearly impossible.
2. *Model.* Each landmark plays a target: its ``k_nearest`` RTTs (less the other
   landmark's access delay) and the true distances fit the
   :class:`~fleetproof.geo.model.DelayModel`.
3. *Threshold.* Each landmark, as an honest target, gets the likelihood-ratio
   statistic at its advertised position under a model fitted without it
   (cross-fitting in five folds); the threshold is the ``1 − false_alarm_rate``
   quantile. ``benchmarks/engine_accuracy.py`` measures the resulting rate with
   every target left out of calibration entirely.
4. *Radius.* The same cross-fitted targets scale the uncertainty radius so that it
   holds the truth for 90 % of them (the posterior alone is over-confident).

None of this affects ``violation`` or ``proven``, which use the bound alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from fleetproof.geo.countries import CountryTable
from fleetproof.geo.estimate import MIN_RTT_MS, estimate_batch, log_likelihood
from fleetproof.geo.landmarks import Landmark, LandmarkSet, MeshLink
from fleetproof.geo.model import DelayModel
from fleetproof.geo.speed import SpeedModel
from fleetproof.geo.sphere import EARTH_RADIUS_KM
from fleetproof.geo.vetting import mesh_matrix

__all__ = ["access_delays", "calibrate", "held_out_access_delays", "honest_statistics"]

MIN_PAIRS = 20
SCALE_PRIOR = 15.0
SCALE_ON = True
#: Share of honest cross-fitted targets whose truth must lie within the reported radius.
RADIUS_COVERAGE = 0.9


def access_delays(rtt: np.ndarray, dist_km: np.ndarray, speed: SpeedModel) -> np.ndarray:
    """Half of each landmark's smallest RTT excess over the physical minimum (ms, ≥ 0; 0 if unmeasured)."""
    km_per_ms = speed.v_max_km_per_ms / 2.0
    excess = rtt - speed.allowance_ms - dist_km / km_per_ms
    with np.errstate(all="ignore"):
        low = np.nanmin(np.where(np.isfinite(excess), excess, np.inf), axis=1)
    return np.where(np.isfinite(low), np.maximum(low, 0.0) / 2.0, 0.0)


def held_out_access_delays(rtt: np.ndarray, dist_km: np.ndarray, speed: SpeedModel) -> np.ndarray:
    """(n, n): entry [i, j] is landmark j's access delay (as :func:`access_delays`) without landmark i.

    Only the pair that gives j its smallest excess changes: without it, the second smallest counts.
    """
    km_per_ms = speed.v_max_km_per_ms / 2.0
    excess = rtt - speed.allowance_ms - dist_km / km_per_ms
    excess = np.where(np.isfinite(excess), excess, np.inf)
    np.fill_diagonal(excess, np.inf)
    n = excess.shape[0]
    if n < 2:
        return np.zeros((n, n))
    two = np.partition(excess, 1, axis=0)[:2]  # smallest and second smallest per column
    best = np.argmin(excess, axis=0)
    low = np.where(np.arange(n)[:, None] == best[None, :], two[1][None, :], two[0][None, :])
    return np.where(np.isfinite(low), np.maximum(low, 0.0) / 2.0, 0.0)


def landmark_scales(
    idx: np.ndarray, ratio: np.ndarray, n: int, prior_pairs: float | None = None
) -> np.ndarray:
    """Each landmark's median distance/bound ratio relative to all, shrunk toward 1 by its pair count.

    CBG fits a slope per landmark for the same reason: some landmarks sit behind
    slower or more roundabout routes than others.
    """
    prior = SCALE_PRIOR if prior_pairs is None else prior_pairs
    ok = np.isfinite(ratio)
    overall = float(np.median(ratio[ok])) if ok.any() else 1.0
    out = np.ones(n)
    if not SCALE_ON:
        return out
    for j in range(n):
        mine = ratio[ok & (idx == j)]
        if mine.size and overall > 0:
            w = mine.size / (mine.size + prior)
            out[j] = float(np.exp(w * np.log(max(float(np.median(mine)), 1e-3) / overall)))
    return np.clip(out, 0.5, 2.0)


def honest_statistics(
    lms: LandmarkSet,
    rtt: np.ndarray,
    truth: np.ndarray,
    model: DelayModel,
    speed: SpeedModel,
    countries: CountryTable | None,
) -> tuple[np.ndarray, np.ndarray]:
    """For targets (RTT rows to ``lms``) at true unit vectors ``truth``: the likelihood-ratio statistic
    at the truth, and the estimate's error as a multiple of its uncertainty radius."""
    est = estimate_batch(
        rtt, lms.vectors, model.offsets_for(lms.ids), model.scales_for(lms.ids), model, speed, countries
    )
    ll = log_likelihood(truth[:, None, :], est.terms, model)[:, 0]
    lat, lon = np.radians(est.lat), np.radians(est.lon)
    v = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    err = np.arccos(np.clip(np.sum(v * truth, axis=1), -1.0, 1.0)) * EARTH_RADIUS_KM
    return np.asarray(np.maximum(2.0 * (est.max_ll - ll), 0.0)), np.asarray(err / est.radius_km)


def _fit(lms: LandmarkSet, rtt: np.ndarray, speed: SpeedModel, k_nearest: int) -> DelayModel:
    """Access delays, distance scales and ratio densities from a mesh matrix (no threshold)."""
    dist = np.arccos(np.clip(lms.vectors @ lms.vectors.T, -1.0, 1.0)) * EARTH_RADIUS_KM
    offsets = access_delays(rtt, dist, speed)
    filled = np.where(np.isfinite(rtt), rtt, np.inf)
    k = max(1, min(k_nearest, len(lms) - 1))
    idx = np.argsort(filled, axis=1)[:, :k]
    r = np.take_along_axis(rtt, idx, axis=1)
    d = np.take_along_axis(dist, idx, axis=1)
    ok = np.isfinite(r)
    # A landmark's distance scale describes its own reach: measured with its own access delay.
    own = np.maximum(r - offsets[idx], MIN_RTT_MS)
    scales = landmark_scales(
        idx, np.where(ok, d / np.maximum(speed.max_distance_km(own), 1.0), np.nan), len(lms)
    )
    # The densities are what a target sees: the others' access delays as they would be without it.
    held_out = np.take_along_axis(held_out_access_delays(rtt, dist, speed), idx, axis=1)
    rc = np.maximum(r - held_out, MIN_RTT_MS)
    ratio = np.where(ok, d / np.maximum(speed.max_distance_km(rc), 1.0), np.nan) / scales[idx]
    model = DelayModel.fit(rc[ok], ratio[ok]) if ok.sum() >= MIN_PAIRS else DelayModel.default()
    model = DelayModel.from_json({**model.to_json(), "k_nearest": k_nearest})
    return model.with_landmarks(
        dict(zip(lms.ids, offsets.tolist(), strict=True)), dict(zip(lms.ids, scales.tolist(), strict=True))
    )


def calibrate(
    landmarks: Sequence[Landmark],
    mesh: Iterable[MeshLink],
    speed: SpeedModel | None = None,
    countries: CountryTable | None = None,
    false_alarm_rate: float = 0.01,
    k_nearest: int = 16,
    folds: int = 5,
) -> DelayModel:
    """Fit a :class:`DelayModel` to the mesh of (trusted) landmarks and set its threshold.

    The threshold is cross-fitted: landmarks are split into ``folds`` groups (by
    position in the list, no randomness); each group plays honest targets for a
    model fitted without it, as real targets are never part of calibration. Falls
    back to :meth:`DelayModel.default` when the mesh has fewer than 20 usable pairs.
    """
    speed = speed or SpeedModel()
    lms = LandmarkSet(landmarks)
    rtt = mesh_matrix(lms, mesh)
    model = _fit(lms, rtt, speed, k_nearest)
    n = len(lms)
    if n < 10 or np.sum(np.sum(np.isfinite(rtt), axis=1) >= 3) < 10:
        return model
    stats = []
    for f in range(folds):
        test = np.arange(n) % folds == f
        train = ~test
        sub = LandmarkSet(lms.landmarks[i] for i in np.flatnonzero(train))
        part = _fit(sub, rtt[np.ix_(train, train)], speed, k_nearest)
        rows = rtt[np.ix_(test, train)]
        usable = np.sum(np.isfinite(rows), axis=1) >= 3
        if usable.any():
            stats.append(  # (statistics, error / radius)
                honest_statistics(sub, rows[usable], lms.vectors[test][usable], part, speed, countries)
            )
    values = np.concatenate([x for x, _ in stats]) if stats else np.zeros(0)
    values = values[np.isfinite(values)]
    if values.size < 10:
        return model
    threshold = float(np.quantile(values, 1.0 - false_alarm_rate, method="higher"))
    ratios = np.concatenate([y for _, y in stats])
    ratios = ratios[np.isfinite(ratios)]
    radius_scale = float(np.clip(np.quantile(ratios, RADIUS_COVERAGE), 0.5, 10.0))
    return DelayModel.from_json(
        {**model.with_threshold(threshold, false_alarm_rate).to_json(), "radius_scale": radius_scale}
    )
