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
MAX_ROUNDS = 40
GUESS_SHIFT = 0.45


@dataclass(frozen=True)
class BudgetAsk:
    """Pairs to search: ``site`` in ``deployment``, pool landmark ``landmark`` modelled at ``rtt0``
    ms (where the site is proven), with a first ``guess`` (ms) of where proof stops; ``spare``
    where geometry expects the proof to survive without this landmark (tried first at a disk
    holding the whole Earth)."""

    site: IntArray
    deployment: IntArray
    landmark: IntArray
    rtt0: FloatArray
    guess: FloatArray
    spare: npt.NDArray[np.bool_]


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
    s = _State(n, k_max)
    # The engine's threshold lies a little below the geometric guess (its sub-cells must clear the
    # border): half a step lower makes the guess and the point above it bracket it most often.
    guess = np.clip(np.floor((ask.guess - ask.rtt0) / step_ms - GUESS_SHIFT), 1, k_max).astype(np.int64)
    # Round one: the whole-Earth disk for spare landmarks, the guess and the point above it for the rest.
    rest = np.flatnonzero(~ask.spare)
    pending = [(np.flatnonzero(ask.spare), k_max[ask.spare]), (rest, guess[rest])]
    above = rest[guess[rest] < k_max[rest]]
    pending.append((above, guess[above] + 1))
    for round_ in range(MAX_ROUNDS):
        who = np.concatenate([w for w, _ in pending])
        at = np.concatenate([k for _, k in pending])
        if who.size == 0:
            break
        rows = Rows(
            ask.site[who],
            ask.deployment[who],
            ask.landmark[who],
            ask.rtt0[who] + at.astype(np.float64) * step_ms,
        )
        s.record(who, at, np.array([v == "proven" for v in judge.verdicts(rows)], dtype=bool))
        if round_ == 0:
            # A spare landmark that matters after all starts again from its guess; a guess that failed
            # is left downwards, one proven with the point above it upwards (and the whole-Earth
            # disk is tried once on the way, as it settles "no budget" in one row).
            again = np.flatnonzero(ask.spare & (s.hi >= 0))
            s.mode[again] = _DOWN
            s.hi[again] = np.minimum(s.hi[again], guess[again] + 1)
            failed = rest[s.hi[rest] == guess[rest]]
            s.mode[failed] = _DOWN
            up = rest[(s.hi[rest] < 0) & (s.lo[rest] < k_max[rest])]
            pending = [(again, np.maximum(np.minimum(guess[again], s.hi[again] - 1), 1)), (up, k_max[up])]
            pending.append(s.next(exclude=np.concatenate([again, up])))
            continue
        pending = [s.next()]
    unbounded = (s.hi < 0) & (s.lo >= k_max)
    rtt = np.where(unbounded, np.nan, ask.rtt0 + s.lo * step_ms)
    above_ms = np.where(s.hi >= 0, ask.rtt0 + s.hi * step_ms, np.nan)
    return Budget(rtt, unbounded, above_ms)


_UP, _DOWN = 0, 1


class _State:
    """Per pair: ``lo`` proven (lattice steps above the modelled RTT), ``hi`` not proven (−1: none
    found), and the direction a gallop goes until the bracket is found."""

    def __init__(self, n: int, k_max: IntArray) -> None:
        self.lo = np.zeros(n, dtype=np.int64)
        self.hi = np.full(n, -1, dtype=np.int64)
        self.gap = np.ones(n, dtype=np.int64)
        self.mode = np.full(n, _UP, dtype=np.int64)
        self.k_max = k_max
        self.bracketed = np.zeros(n, dtype=bool)

    def record(self, who: IntArray, at: IntArray, proven: npt.NDArray[np.bool_]) -> None:
        for j in np.lexsort((at, who)).tolist():
            p, k = int(who[j]), int(at[j])
            if proven[j] and (self.hi[p] < 0 or k < self.hi[p]):
                if self.mode[p] == _DOWN:
                    self.bracketed[p] = True
                self.lo[p] = max(self.lo[p], k)
            elif not proven[j] and k > self.lo[p]:
                if self.mode[p] == _UP and k < self.k_max[p]:
                    self.bracketed[p] = True
                self.hi[p] = k if self.hi[p] < 0 else min(self.hi[p], k)

    def next(self, exclude: IntArray | None = None) -> tuple[IntArray, IntArray]:
        """The next lattice point of every open pair: gallop by doubling gaps, then bisect."""
        live = np.ones(self.lo.size, dtype=bool)
        if exclude is not None:
            live[exclude] = False
        lo, hi, gap = self.lo, self.hi, self.gap
        open_ = live & (((hi < 0) & (lo < self.k_max)) | ((hi >= 0) & (hi - lo > 1)))
        probe = (lo + hi) // 2
        up = open_ & ~self.bracketed & (self.mode == _UP)
        probe[up] = lo[up] + 2 * gap[up]
        down = open_ & ~self.bracketed & (self.mode == _DOWN)
        probe[down] = hi[down] - 2 * gap[down]
        ceiling = np.where(hi >= 0, hi - 1, self.k_max)
        wild = (up | down) & ((probe <= lo) | (probe > ceiling))
        probe[wild] = np.where(hi[wild] >= 0, (lo[wild] + hi[wild]) // 2, self.k_max[wild])
        gap[up | down] *= 2
        who = np.flatnonzero(open_)
        return who, probe[who]
