"""Proof budgets: the largest RTT a landmark may show while the engine still says ``proven``.

For one site and one of the landmarks that carry its proof, every other landmark is
held at its modelled RTT and this one's RTT is raised on a lattice of ``step`` ms above
its modelled value. The search is batched: each round asks the engine about one or
two lattice points of every open pair at once. It starts at a geometric guess (the
RTT at which the landmark's disk would touch the zone's border), gallops away from
it by doubling steps until the answer changes, then bisects. The budget is the last
lattice point found ``proven`` with the next one found not proven; a landmark whose
disk may cover the whole Earth without breaking the proof has no budget (``None``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetproof.geo.sphere import EARTH_RADIUS_KM
from fleetproof.plan.judge import Judge, Rows

__all__ = ["Budget", "BudgetAsk", "search_budgets"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
MAX_ROUNDS = 32


@dataclass(frozen=True)
class BudgetAsk:
    """Pairs to search: ``site`` in ``deployment``, pool landmark ``landmark`` modelled at ``rtt0``
    ms (where the site is proven), with a first ``guess`` (ms) of where proof stops."""

    site: IntArray
    deployment: IntArray
    landmark: IntArray
    rtt0: FloatArray
    guess: FloatArray


@dataclass(frozen=True)
class Budget:
    """Per pair: the budget (ms; NaN where unbounded), whether it is unbounded, and the first
    lattice point above it that the engine found not proven (NaN when unbounded)."""

    rtt_ms: FloatArray
    unbounded: npt.NDArray[np.bool_]
    above_ms: FloatArray


def search_budgets(judge: Judge, ask: BudgetAsk, step_ms: float) -> Budget:
    """Search every pair's budget; see the module docstring."""
    n = ask.site.size
    top = judge.delay.rtt_for_reach_ms(np.pi * EARTH_RADIUS_KM)  # a disk holding the whole Earth
    k_max = np.maximum(np.ceil((top - ask.rtt0) / step_ms), 1).astype(np.int64)
    lo = np.zeros(n, dtype=np.int64)  # proven at rtt0 + lo·step
    hi = np.full(n, -1, dtype=np.int64)  # not proven at rtt0 + hi·step (−1: not found yet)
    gap = np.ones(n, dtype=np.int64)
    first = np.clip(np.floor((ask.guess - ask.rtt0) / step_ms), 1, k_max).astype(np.int64)
    pending = [(np.arange(n), first), (np.flatnonzero(first < k_max), first[first < k_max] + 1)]
    for _ in range(MAX_ROUNDS):
        who = np.concatenate([w for w, _ in pending])
        at = np.concatenate([k for _, k in pending])
        if who.size == 0:
            break
        rows = Rows(
            ask.site[who], ask.deployment[who], ask.landmark[who], ask.rtt0[who] + at.astype(np.float64) * step_ms
        )
        proven = np.array([v == "proven" for v in judge.verdicts(rows)], dtype=bool)
        order = np.lexsort((at, who))
        for j in order.tolist():
            p, k = int(who[j]), int(at[j])
            if proven[j] and (hi[p] < 0 or k < hi[p]):
                lo[p] = max(lo[p], k)
            elif not proven[j] and k > lo[p]:
                hi[p] = k if hi[p] < 0 else min(hi[p], k)
        pending = [_next(lo, hi, gap, k_max)]
    unbounded = (hi < 0) & (lo >= k_max)
    rtt = np.where(unbounded, np.nan, ask.rtt0 + lo * step_ms)
    above = np.where(hi >= 0, ask.rtt0 + hi * step_ms, np.nan)
    return Budget(rtt, unbounded, above)


def _next(lo: IntArray, hi: IntArray, gap: IntArray, k_max: IntArray) -> tuple[IntArray, IntArray]:
    """The next lattice point of every open pair: gallop up or down by doubling gaps, then bisect."""
    up = (hi < 0) & (lo < k_max)
    open_ = (hi >= 0) & (hi - lo > 1)
    probe = np.zeros(lo.size, dtype=np.int64)
    probe[up] = np.minimum(lo[up] + 2 * gap[up], k_max[up])
    # Below a failed probe: step down by doubling gaps until a proven point turns up, unless the
    # bracket is already narrow enough to bisect.
    down = open_ & (hi - lo > 4 * gap)
    probe[down] = hi[down] - 2 * gap[down]
    mid = open_ & ~down
    probe[mid] = (lo[mid] + hi[mid]) // 2
    gap[up | down] *= 2
    who = np.flatnonzero(up | open_)
    return who, probe[who]
