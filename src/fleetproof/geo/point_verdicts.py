"""Point claims ("this host is at lat, lon"), decided for a whole chunk with a few array operations.

A point is a violation when more than ``tolerance`` landmarks each put it beyond the distance
their RTT allows, and never ``proven`` (a region is never a single point). The likelihood ratio
is taken at the point itself, so no cells are involved and the cost per claim is one row of
dot products.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fleetproof.geo.claims import Claim
from fleetproof.geo.estimate import EstimateBatch, log_likelihood
from fleetproof.geo.results import (
    EVIDENCE_LANDMARKS,
    Engine,
    Outcome,
    Verdict,
    contradiction,
    describe,
    rounded,
)
from fleetproof.geo.sphere import EARTH_RADIUS_KM, unit_vectors

__all__ = ["point_verdicts"]

FloatArray = npt.NDArray[np.float64]


def point_verdicts(
    engine: Engine, block: FloatArray, est: EstimateBatch, points: Sequence[tuple[int, Claim]]
) -> list[Outcome]:
    """One outcome per ``(row, claim)`` of ``points``: ``row`` indexes ``block`` (RTTs, T×L) and ``est``."""
    if not points:
        return []
    rows = np.array([i for i, _ in points], dtype=np.int64)
    lat = np.array([c.lat for _, c in points], dtype=np.float64)
    lon = np.array([c.lon for _, c in points], dtype=np.float64)
    q = unit_vectors(lat, lon).reshape(-1, 3)
    r = block[rows]
    ok = np.isfinite(r)
    r0 = np.where(ok, r, 0.0)
    ang = np.arccos(np.clip(q @ engine.landmarks.vectors.T, -1.0, 1.0))
    limit = engine.speed.max_angle_rad(r0)
    excl = ok & (ang > limit)
    n_excl = excl.sum(axis=1)
    dist_km = ang * EARTH_RADIUS_KM
    bound_km = engine.speed.max_distance_km(r0)
    excess = np.where(excl, dist_km - bound_km, -np.inf)
    ll = log_likelihood(q[:, None, :], est.terms.rows(rows), engine.model)[:, 0]
    lr = np.maximum(2.0 * (est.max_ll[rows] - ll), 0.0)
    threshold = engine.model.lr_threshold
    ids = engine.landmarks.ids
    out: list[Outcome] = []
    for k in range(rows.size):
        n = int(n_excl[k])
        verdict: Verdict = "violation" if n > engine.tolerance else "consistent"
        ev: dict[str, Any] = {
            "claim": describe(points[k][1]),
            "contradicting_count": n,
            "likelihood_ratio": rounded(lr[k], 2),
            "suspicious_threshold": round(threshold, 2),
        }
        if n:
            top = np.argsort(-excess[k], kind="stable")[: min(n, EVIDENCE_LANDMARKS)]
            ev["contradicting"] = [
                contradiction(ids[j], r[k, j], bound_km[k, j], dist_km[k, j]) for j in top.tolist()
            ]
        suspicious = bool(n > 0 or lr[k] > threshold)
        out.append((verdict, suspicious, ev))
    return out
