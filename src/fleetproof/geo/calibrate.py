"""Calibration on the landmark mesh: fit the delay model and choose the suspicion threshold.

Each trusted landmark plays an honest target in turn: its RTTs to the others
give an estimate and the likelihood-ratio statistic at its true, advertised
position. The threshold is the ``1 − false_alarm_rate`` quantile of those
statistics, so about that share of honest targets would be flagged. The model
is fitted on all pairs, including the target's own, which makes this slightly
optimistic; ``benchmarks/engine_accuracy.py`` measures the rate honestly, leaving
each target out of the fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from fleetproof.geo.countries import CountryTable
from fleetproof.geo.estimate import estimate_batch, log_likelihood
from fleetproof.geo.landmarks import Landmark, LandmarkSet, MeshLink
from fleetproof.geo.model import DelayModel
from fleetproof.geo.sphere import EARTH_RADIUS_KM
from fleetproof.geo.speed import SpeedModel
from fleetproof.geo.vetting import mesh_matrix

__all__ = ["calibrate", "honest_statistics"]

MIN_PAIRS = 20


def honest_statistics(
    lms: LandmarkSet,
    rtt: np.ndarray,
    truth: np.ndarray,
    model: DelayModel,
    speed: SpeedModel,
    countries: CountryTable | None,
) -> np.ndarray:
    """Likelihood-ratio statistic of targets (RTT rows to ``lms``) at their true unit vectors ``truth``."""
    est = estimate_batch(rtt, lms.vectors, model, speed, countries)
    ll = log_likelihood(truth[:, None, :], est.terms, model)[:, 0]
    return np.asarray(np.maximum(2.0 * (est.max_ll - ll), 0.0))


def calibrate(
    landmarks: Sequence[Landmark],
    mesh: Iterable[MeshLink],
    speed: SpeedModel | None = None,
    countries: CountryTable | None = None,
    false_alarm_rate: float = 0.01,
) -> DelayModel:
    """Fit a :class:`DelayModel` to the mesh of (trusted) landmarks and set its threshold.

    Falls back to :meth:`DelayModel.default` (threshold still calibrated when possible)
    when the mesh has fewer than 20 usable pairs.
    """
    speed = speed or SpeedModel()
    lms = LandmarkSet(landmarks)
    rtt = mesh_matrix(lms, mesh)
    i, j = np.nonzero(np.triu(np.isfinite(rtt), 1))
    dist = np.arccos(np.clip(np.sum(lms.vectors[i] * lms.vectors[j], axis=1), -1, 1)) * EARTH_RADIUS_KM
    r = rtt[i, j]
    ok = dist <= speed.max_distance_km(r) * 1.006 + 1.0  # pairs that respect the bound
    model = DelayModel.fit(r[ok], dist[ok] / np.maximum(speed.max_distance_km(r[ok]), 1.0)) if ok.sum() >= MIN_PAIRS else DelayModel.default()
    usable = np.sum(np.isfinite(rtt), axis=1) >= 3
    if usable.sum() < 10:
        return model
    stats = honest_statistics(lms, rtt[usable], lms.vectors[usable], model, speed, countries)
    stats = stats[np.isfinite(stats)]
    threshold = float(np.quantile(stats, 1.0 - false_alarm_rate, method="higher"))
    return model.with_threshold(threshold, false_alarm_rate)
