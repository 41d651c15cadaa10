"""What a proof can take: per-landmark budgets, the joint budget, and the landmarks a host must measure.

For every proven site, the ``tolerance + 1`` landmarks that carry its proof are chosen
(those whose disk fits inside the zone, tightest first). Then, with the engine itself on
the budget grid (:mod:`fleetproof.plan.budget`):

- each one's **budget**: the largest RTT it may show, every other landmark held at its
  modelled RTT;
- the site's **joint budget**: the largest extra delay that may be added to *all* of its
  proving landmarks at once. Two landmarks in one metro see the same path, so their delays
  rise together; raising several disks at once can break a proof that each budget alone
  allows, and the joint budget is never above the smallest per-landmark headroom when the
  engine is monotone in the RTTs (a larger RTT only widens a disk). The plan's headroom rule
  uses it;
- the landmarks the host must **measure**: those that can matter to the verdict by the judge's
  own pruning rule (:func:`fleetproof.plan.judge.needed_mask`), evaluated with the proving
  landmarks at their modelled RTTs and again raised by one grid step beyond the joint budget, so
  that leaving the rest out changes neither the verdict nor the joint budget. (Per-landmark budgets
  assume every landmark measured; the wider set they can feel is kept as ``Proof.matter``, to tell
  which proofs survive a change of deployment unchanged.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetproof.geo.sphere import EARTH_RADIUS_KM
from fleetproof.plan.budget import Budget, BudgetAsk, search_grouped
from fleetproof.plan.geometry import Geometry, margin_km
from fleetproof.plan.judge import Judge, needed_mask

__all__ = ["Proof", "ProofLandmark", "proofs"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ProofLandmark:
    """A landmark that carries a proof, its modelled RTT and its budget (None: any RTT will do)."""

    landmark: str
    distance_km: float
    modelled_rtt_ms: float
    budget_rtt_ms: float | None
    not_proven_at_ms: float | None

    @property
    def headroom_ms(self) -> float | None:
        """How much more than modelled this landmark alone may show (None: any amount)."""
        if self.budget_rtt_ms is None:
            return None
        return round(self.budget_rtt_ms - self.modelled_rtt_ms, 4)


@dataclass(frozen=True)
class Proof:
    """A proven site's proof: its landmarks, its joint budget and what the host must measure.

    ``joint_ms``: the largest extra delay (ms, on the budget grid) every proving landmark may show at
    once with the engine still saying ``proven`` (None: any); ``joint_not_proven_ms``: the next grid
    point, where the engine was found not to.
    """

    landmarks: tuple[ProofLandmark, ...]
    joint_ms: float | None
    joint_not_proven_ms: float | None
    measure: tuple[str, ...]
    #: Pool indices of every landmark that can matter to any verdict behind this proof, its
    #: per-landmark budgets included (a superset of ``measure``).
    matter: frozenset[int] = frozenset()

    def has_headroom(self, minimum_ms: float) -> bool:
        return self.joint_ms is None or self.joint_ms >= minimum_ms - 1e-9

    def no_headroom(self, minimum_ms: float, with_added: bool) -> str:
        """Why a proof the engine gives is not counted on: too little joint margin."""
        lm = self.landmarks[0]
        joint = self.joint_ms or 0.0
        others = ", ".join(p.landmark for p in self.landmarks[1:]) or "no other"
        return (
            f"no headroom: budget {lm.modelled_rtt_ms + joint:.4f} ms "
            f"vs modelled {lm.modelled_rtt_ms:.4f} ms "
            f"for {lm.landmark} with {others} raised alike (a joint margin of {joint:.2f} ms, below the "
            f"{minimum_ms:.2f} ms minimum)" + (" with the added landmarks" if with_added else "")
        )


def proofs(
    judge: Judge,
    geo: Geometry,
    sites: IntArray,
    deployment: int,
    step_ms: float,
    per_place: int,
) -> dict[int, Proof]:
    """The proofs of ``sites`` (all proven in ``deployment``); see the module docstring."""
    sites = np.asarray(sites, dtype=np.int64)
    if sites.size == 0:
        return {}
    deployed = judge.deployments[deployment]
    rtt = judge.modelled_rtt(sites, deployed)
    room = geo.room_km(sites, deployed)  # how far each disk may grow inside the zone (−inf: not at all)
    reach = judge.delay.reach_km(_distance_km(judge, sites, deployed))
    fitting = reach + margin_km(reach) <= room
    # Landmarks whose disk fits come first, tightest first; then the tightest of the rest.
    key = np.where(fitting, rtt, rtt + 1e6)
    take = np.argsort(key, axis=1, kind="stable")[:, :per_place]
    n_fit = fitting.sum(axis=1)
    rows = np.repeat(np.arange(sites.size), take.shape[1])
    site = sites[rows]
    lm = deployed[take.ravel()]
    spare = n_fit[rows] - fitting[rows, take.ravel()] >= per_place
    dist = _distance_km(judge, site, lm, pairwise=True)
    rtt0 = judge.delay.rtt_ms(dist)
    found, guess = _landmark_budgets(judge, geo, site, lm, dist, rtt0, spare, deployment, step_ms)
    headroom = np.where(found.unbounded, np.inf, found.rtt_ms - rtt0)
    k = take.shape[1]
    joint = _joint_budgets(
        judge,
        geo,
        sites,
        deployment,
        lm.reshape(-1, k),
        rtt0.reshape(-1, k),
        headroom.reshape(-1, k),
        (guess - rtt0).reshape(-1, k),
        step_ms,
    )
    # The most each proving landmark is meant to absorb, one grid step beyond.
    whole_earth = float(judge.delay.rtt_for_reach_ms(np.pi * EARTH_RADIUS_KM))
    joint_top = rtt0 + np.repeat(np.where(joint.unbounded, np.inf, joint.rtt_ms), k)
    budget_top = np.maximum(np.where(found.unbounded, np.inf, found.rtt_ms), joint_top)
    measure, _ = _must_measure(
        judge, sites, deployed, take, np.minimum(joint_top, whole_earth).reshape(-1, k) + step_ms
    )
    _, matter = _must_measure(
        judge, sites, deployed, take, np.minimum(budget_top, whole_earth).reshape(-1, k) + step_ms
    )
    out: dict[int, Proof] = {}
    for r, s in enumerate(sites.tolist()):
        lms = []
        for j in range(r * k, (r + 1) * k):
            lms.append(
                ProofLandmark(
                    landmark=judge.pool[int(lm[j])].id,
                    distance_km=round(float(dist[j]), 2),
                    modelled_rtt_ms=round(float(rtt0[j]), 4),
                    budget_rtt_ms=None if found.unbounded[j] else round(float(found.rtt_ms[j]), 4),
                    not_proven_at_ms=None
                    if not np.isfinite(found.above_ms[j])
                    else round(float(found.above_ms[j]), 4),
                )
            )
        out[s] = Proof(
            tuple(lms),
            None if joint.unbounded[r] else round(float(joint.rtt_ms[r]), 4),
            None if not np.isfinite(joint.above_ms[r]) else round(float(joint.above_ms[r]), 4),
            measure[r],
            matter[r],
        )
    return out


def _landmark_budgets(
    judge: Judge,
    geo: Geometry,
    site: IntArray,
    lm: IntArray,
    dist: FloatArray,
    rtt0: FloatArray,
    spare: npt.NDArray[np.bool_],
    deployment: int,
    step_ms: float,
) -> tuple[Budget, FloatArray]:
    """Each (site, landmark) pair's budget, and the geometric guess it started from."""
    room = _pair_room(geo, site, lm) - margin_km(judge.delay.reach_km(dist)) / 2
    guess = np.where(np.isfinite(room), judge.delay.rtt_for_reach_ms(np.maximum(room, 0.0)), rtt0)
    deps = np.full(site.size, deployment, dtype=np.int64)
    # Two landmarks of a proof at one place (two boxes in one metro) have the same disk: raising either
    # asks the engine the same question, so the second takes the first's budget.
    twin = np.arange(site.size)
    for k in range(1, site.size):
        for m in range(k - 1, -1, -1):
            if site[m] != site[k]:
                break
            if np.array_equal(judge.pool_vec[lm[m]], judge.pool_vec[lm[k]]):
                twin[k] = twin[m]
                break
    own = np.flatnonzero(twin == np.arange(site.size))
    ask = BudgetAsk(site, deps, lm, rtt0, guess, spare).take(own)
    key = np.stack([deps[own], lm[own], geo.zone_number[site[own]]], axis=1)
    group = np.unique(key, axis=0, return_inverse=True)[1].ravel()
    searched = search_grouped(judge, ask, group, step_ms)
    at = np.searchsorted(own, twin)
    return Budget(searched.rtt_ms[at], searched.unbounded[at], searched.above_ms[at]), guess


def _joint_budgets(
    judge: Judge,
    geo: Geometry,
    sites: IntArray,
    deployment: int,
    lms: IntArray,
    rtt0: FloatArray,
    headroom: FloatArray,
    geometric: FloatArray,
    step_ms: float,
) -> Budget:
    """Per site: the largest extra delay on the grid that all of ``lms[r]`` (modelled at ``rtt0[r]``)
    may show at once.

    The search starts at the smallest per-landmark headroom (the joint budget is at most that, and
    mostly within a grid step of it), or, where every proving landmark is unbounded alone, at a disk
    holding the whole Earth. Sites with the same proving landmarks in the same zone then start where
    the first one's proof ended, in absolute RTT (a proof ends where a disk reaches the outline, at
    the same RTT of that landmark for every site): its joint budget, plus how much lower each
    landmark's modelled RTT is for them, the least over the landmarks.
    """
    n = sites.size
    cols = np.argsort(lms, axis=1, kind="stable")  # the same column order within a group
    lms, rtt0 = np.take_along_axis(lms, cols, axis=1), np.take_along_axis(rtt0, cols, axis=1)
    finite = np.where(np.isfinite(headroom), headroom, np.inf).min(axis=1)
    start = np.where(np.isfinite(finite), finite, np.maximum(geometric.min(axis=1), 0.0))
    deps = np.full(n, deployment, dtype=np.int64)
    ask = BudgetAsk(
        sites,
        deps,
        np.full(n, -1, dtype=np.int64),
        np.zeros(n),
        np.maximum(start, 0.0) + step_ms / 2,
        ~np.isfinite(finite),
        lms,
    )

    def carry(members: IntArray, reps: IntArray, budgets: FloatArray) -> FloatArray:
        moved = np.min(rtt0[reps] + budgets[:, None] - rtt0[members], axis=1)
        return np.asarray(np.maximum(moved, 0.0))

    key = np.column_stack([deps, lms, geo.zone_number[sites]])
    return search_grouped(judge, ask, key, step_ms, carry)


def _must_measure(
    judge: Judge, sites: IntArray, deployed: IntArray, take: IntArray, top: FloatArray
) -> tuple[list[tuple[str, ...]], list[frozenset[int]]]:
    """Per site, the landmark ids it must measure, nearest first, with its proving landmarks at ``top``
    ms (see the module docstring); and the same as a set of pool indices."""
    out: list[tuple[str, ...]] = []
    pools: list[frozenset[int]] = []
    for lo in range(0, sites.size, 512):
        idx = np.arange(lo, min(lo + 512, sites.size))
        ang = np.arccos(np.clip(judge.site_vec[sites[idx]] @ judge.pool_vec[deployed].T, -1.0, 1.0))
        rtt = judge.delay.rtt_ms(ang * EARTH_RADIUS_KM)
        keep = needed_mask(ang, rtt, judge.engine)
        raised = rtt.copy()
        np.put_along_axis(
            raised, take[idx], np.maximum(np.take_along_axis(rtt, take[idx], axis=1), top[idx]), 1
        )
        keep |= needed_mask(ang, raised, judge.engine)
        keep[np.repeat(np.arange(idx.size), take.shape[1]), take[idx].ravel()] = True
        for r in range(idx.size):
            cols = np.flatnonzero(keep[r])
            cols = cols[np.argsort(ang[r, cols], kind="stable")]
            out.append(tuple(judge.pool[int(deployed[c])].id for c in cols.tolist()))
            pools.append(frozenset(deployed[cols].tolist()))
    return out, pools


def _distance_km(judge: Judge, site: IntArray, landmarks: IntArray, pairwise: bool = False) -> FloatArray:
    """Great-circle km: (len(site), len(landmarks)), or per pair with ``pairwise``."""
    if pairwise:
        dots = np.sum(judge.site_vec[site] * judge.pool_vec[landmarks], axis=1)
    else:
        dots = judge.site_vec[site] @ judge.pool_vec[landmarks].T
    return np.asarray(np.arccos(np.clip(dots, -1.0, 1.0)) * EARTH_RADIUS_KM)


def _pair_room(geo: Geometry, site: IntArray, pool: IntArray) -> FloatArray:
    """Per (site, landmark) pair: the landmark's distance to the site's zone border (−inf outside)."""
    out = np.full(site.size, -np.inf)
    pts = geo.point_of(pool)
    for number, r in geo.room.items():
        mine = geo.zone_number[site] == number
        out[mine] = r[pts[mine]]
    return out
