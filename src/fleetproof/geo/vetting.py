"""Landmark vetting: find landmarks whose advertised position the mesh contradicts.

Two landmarks whose advertised positions are farther apart than their RTT
allows cannot both be where they say. Each such pair is a *conflict*; the
quarantine is a small set of landmarks that explains every conflict (a vertex
cover of the conflict graph: greedy by number of conflicts, then by
*tightness*, then by total excess distance, then pruned of any landmark whose
conflicts are already explained). A mislocated landmark usually conflicts with
many honest ones, so it is the one removed. When only one pair conflicts, the
count cannot tell which of the two is wrong; tightness can: it is the largest
share of the bound that the landmark's advertised position uses on any of its
``TIGHT_LINKS`` shortest links that are not conflicts. A landmark advertised
away from where it answers sits close to the bound with its neighbours too, and
an honest one rarely does (long intercontinental links run close to the bound
for everyone, so only the short ones are looked at). A landmark with no
conflict is trusted: the bound cannot see an error smaller than the slack of the
routes around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetproof.geo.landmarks import Landmark, LandmarkSet, MeshLink
from fleetproof.geo.speed import SpeedModel
from fleetproof.geo.sphere import EARTH_RADIUS_KM

#: Shortest links per landmark looked at for its tightness (see the module docstring).
TIGHT_LINKS = 8

__all__ = ["Conflict", "Quarantined", "VettingReport", "mesh_matrix", "vet_landmarks"]


@dataclass(frozen=True)
class Conflict:
    """Two landmarks whose positions are ``distance_km`` apart although the RTT allows only ``bound_km``."""

    a: str
    b: str
    rtt_ms: float
    bound_km: float
    distance_km: float


@dataclass(frozen=True)
class Quarantined:
    id: str
    reason: str
    conflicts: int


@dataclass(frozen=True)
class VettingReport:
    """Trusted landmark ids, quarantined ones with the reason, and every conflict found."""

    trusted: tuple[str, ...]
    quarantined: tuple[Quarantined, ...]
    conflicts: tuple[Conflict, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "quarantined": [
                {"id": q.id, "reason": q.reason, "conflicts": q.conflicts} for q in self.quarantined
            ],
            "trusted": list(self.trusted),
            "conflicts": [
                {"a": c.a, "b": c.b, "rtt_ms": c.rtt_ms, "bound_km": c.bound_km, "distance_km": c.distance_km}
                for c in self.conflicts
            ],
        }


def mesh_matrix(lms: LandmarkSet, mesh: Iterable[MeshLink]) -> np.ndarray:
    """Symmetric matrix of minimum RTTs between landmarks (NaN where unmeasured or unknown ids)."""
    n = len(lms)
    m = np.full((n, n), np.inf)
    for link in mesh:
        i, j = lms.index.get(link.a), lms.index.get(link.b)
        if i is None or j is None or i == j or not np.isfinite(link.rtt_ms) or link.rtt_ms < 0:
            continue
        v = min(m[i, j], link.rtt_ms)
        m[i, j] = m[j, i] = v
    return np.where(np.isfinite(m), m, np.nan)


def _conflicts(
    lms: LandmarkSet, rtt: np.ndarray, speed: SpeedModel
) -> list[tuple[int, int, float, float, float]]:
    ang = np.arccos(np.clip(lms.vectors @ lms.vectors.T, -1.0, 1.0))
    ok = np.isfinite(rtt)
    limit = speed.max_angle_rad(np.where(ok, rtt, 0.0))
    bad = ok & (ang > limit)
    i, j = np.nonzero(np.triu(bad, 1))
    bound = speed.max_distance_km(rtt[i, j])
    return list(
        zip(
            i.tolist(),
            j.tolist(),
            rtt[i, j].tolist(),
            bound.tolist(),
            (ang[i, j] * EARTH_RADIUS_KM).tolist(),
            strict=True,
        )
    )


def vet_landmarks(
    landmarks: Sequence[Landmark], mesh: Iterable[MeshLink], speed: SpeedModel | None = None
) -> VettingReport:
    """Quarantine a small set of landmarks that explains every speed-bound conflict in the mesh.

    >>> lms = [Landmark("par", 48.86, 2.35), Landmark("ber", 52.52, 13.40),
    ...        Landmark("mad", 40.42, -3.70), Landmark("fake", 40.71, -74.0)]  # "fake" is really in Paris
    >>> mesh = [MeshLink("par", "ber", 16.0), MeshLink("par", "mad", 19.0), MeshLink("ber", "mad", 34.0),
    ...         MeshLink("fake", "par", 1.0), MeshLink("fake", "ber", 16.5), MeshLink("fake", "mad", 19.5)]
    >>> rep = vet_landmarks(lms, mesh)
    >>> [q.id for q in rep.quarantined], rep.trusted
    (['fake'], ('par', 'ber', 'mad'))
    """
    speed = speed or SpeedModel()
    lms = LandmarkSet(landmarks)
    rtt = mesh_matrix(lms, mesh)
    found = _conflicts(lms, rtt, speed)
    n = len(lms)
    excess = np.zeros(n)
    for i, j, _, b, d in found:
        excess[[i, j]] += d - b
    tight = _tightness(lms, rtt, speed)
    open_edges = {(i, j) for i, j, *_ in found}
    chosen: list[int] = []
    while open_edges:
        live = np.zeros(n, dtype=np.int64)
        for i, j in open_edges:
            live[[i, j]] += 1
        k = max(range(n), key=lambda x: (live[x], tight[x], excess[x], lms.ids[x]))
        chosen.append(k)
        open_edges = {(i, j) for i, j in open_edges if k not in (i, j)}
    chosen_set = set(chosen)
    for k in reversed(chosen):  # drop any choice whose conflicts others already explain
        if all((i in chosen_set - {k}) or (j in chosen_set - {k}) for i, j, *_ in found if k in (i, j)):
            chosen_set.discard(k)
    quarantined = [_reason(k, found, lms) for k in chosen if k in chosen_set]
    trusted = tuple(lid for x, lid in enumerate(lms.ids) if x not in chosen_set)
    conflicts = tuple(
        Conflict(lms.ids[i], lms.ids[j], r, round(b, 1), round(d, 1)) for i, j, r, b, d in found
    )
    return VettingReport(trusted, tuple(quarantined), conflicts)


def _tightness(lms: LandmarkSet, rtt: np.ndarray, speed: SpeedModel) -> np.ndarray:
    """Per landmark: the largest distance / bound over its ``TIGHT_LINKS`` shortest links that the bound
    allows (0 without any)."""
    ang = np.arccos(np.clip(lms.vectors @ lms.vectors.T, -1.0, 1.0))
    ok = np.isfinite(rtt)
    limit = speed.max_angle_rad(np.where(ok, rtt, 0.0))
    allowed = ok & (ang <= limit)
    share = np.where(allowed, ang / np.maximum(limit, 1e-12), 0.0)
    order = np.argsort(np.where(allowed, rtt, np.inf), axis=1)[:, :TIGHT_LINKS]
    return np.asarray(np.take_along_axis(share, order, axis=1).max(axis=1, initial=0.0))


def _reason(k: int, found: list[tuple[int, int, float, float, float]], lms: LandmarkSet) -> Quarantined:
    mine = sorted((c for c in found if k in (c[0], c[1])), key=lambda c: -(c[4] - c[3]))
    parts = []
    for i, j, r, b, d in mine[:3]:
        other = lms.ids[j if i == k else i]
        parts.append(f"{other} answers in {r:.1f} ms (allows ≤ {b:.0f} km) but is advertised {d:.0f} km away")
    more = f"; and {len(mine) - 3} more" if len(mine) > 3 else ""
    reason = (
        f"advertised position contradicts the speed bound with {len(mine)} landmark(s): "
        + "; ".join(parts)
        + more
    )
    return Quarantined(lms.ids[k], reason, len(mine))
