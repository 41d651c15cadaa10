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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetproof.geo.sphere import EARTH_RADIUS_KM
from fleetproof.plan.judge import Judge, Rows

__all__ = ["Budget", "BudgetAsk", "search_budgets", "search_grouped"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
MAX_ROUNDS = 40
GUESS_SHIFT = 0.45


@dataclass(frozen=True)
class BudgetAsk:
    """Pairs to search: ``site`` in ``deployment``, pool landmark ``landmark`` modelled at ``rtt0``
    ms (where the site is proven), with a first ``guess`` (ms) of where proof stops; ``spare``
    where geometry expects the proof to survive without this landmark (tried first at a disk
    holding the whole Earth).

    With ``raised`` (per pair, a row of pool landmarks, −1 padded) the value searched is not one
    landmark's RTT but a *joint* extra delay added to all of those landmarks at once: ``rtt0`` is
    then 0 and ``landmark`` unused."""

    site: IntArray
    deployment: IntArray
    landmark: IntArray
    rtt0: FloatArray
    guess: FloatArray
    spare: npt.NDArray[np.bool_]
    raised: IntArray | None = None

    def take(self, idx: IntArray) -> BudgetAsk:
        return BudgetAsk(
            self.site[idx],
            self.deployment[idx],
            self.landmark[idx],
            self.rtt0[idx],
            self.guess[idx],
            self.spare[idx],
            None if self.raised is None else self.raised[idx],
        )

    def rows(self, who: IntArray, value: FloatArray) -> Rows:
        """The engine's questions for pairs ``who`` at ``value`` (an RTT, or a joint extra delay)."""
        if self.raised is None:
            return Rows(self.site[who], self.deployment[who], self.landmark[who], value)
        n = who.size
        return Rows(
            self.site[who],
            self.deployment[who],
            np.full(n, -1, dtype=np.int64),
            np.full(n, np.nan),
            raised=self.raised[who],
            raise_ms=value,
        )


@dataclass(frozen=True)
class Budget:
    """Per pair: the budget (ms; NaN where unbounded), whether it is unbounded, and the first
    lattice point above it that the engine found not proven (NaN when unbounded)."""

    rtt_ms: FloatArray
    unbounded: npt.NDArray[np.bool_]
    above_ms: FloatArray


def search_budgets(judge: Judge, ask: BudgetAsk, step_ms: float, shift: float = GUESS_SHIFT) -> Budget:
    """Search every pair's budget; see the module docstring.

    Budgets lie on a grid of whole multiples of ``step_ms`` (absolute, not relative to the modelled
    RTT), so pairs whose thresholds coincide find the same values. ``shift`` moves the first probe
    that many steps below the guess.
    """
    n = ask.site.size
    top = float(judge.delay.rtt_for_reach_ms(np.pi * EARTH_RADIUS_KM))  # a disk holding the whole Earth
    base = np.floor(ask.rtt0 / step_ms).astype(np.int64)
    k_max = np.maximum(int(np.ceil(top / step_ms)) - base, 1)

    def value(who: IntArray, k: IntArray) -> FloatArray:
        return np.where(k == 0, ask.rtt0[who], (base[who] + k) * step_ms)

    s = _State(n, k_max)
    guess = np.clip(np.floor(ask.guess / step_ms - shift).astype(np.int64) - base, 1, k_max)
    stage = np.where(ask.spare, _TOP, _GUESS)
    for _ in range(MAX_ROUNDS):
        tops = np.flatnonzero((stage == _TOP) | (stage == _RUN_TOP))
        guessing = np.flatnonzero(stage == _GUESS)
        second = guessing[
            guess[guessing] + 1 < np.where(s.hi[guessing] >= 0, s.hi[guessing], k_max[guessing] + 1)
        ]
        running = s.next(live=stage == _RUN)
        who = np.concatenate([tops, guessing, second, running[0]])
        at = np.concatenate([k_max[tops], guess[guessing], guess[second] + 1, running[1]])
        if who.size == 0:
            break
        rows = ask.rows(who, value(who, at))
        s.record(who, at, np.array([v == "proven" for v in judge.verdicts(rows)], dtype=bool))
        # A spare landmark that matters after all starts from its guess; after the guess, a pair goes
        # down if the guess failed, up if the guess and the point above it held (trying the
        # whole-Earth disk once on the way: it settles "no budget" in one row).
        failed_top = tops[(stage[tops] == _TOP) & (s.hi[tops] >= 0)]
        stage[tops] = np.where(stage[tops] == _TOP, _DONE, _RUN)
        stage[failed_top] = _GUESS
        s.mode[guessing] = np.where(s.hi[guessing] == guess[guessing], _DOWN, _UP)
        s.bracketed[guessing] = False
        went_up = guessing[(s.hi[guessing] < 0) & (s.lo[guessing] < k_max[guessing])]
        stage[guessing] = _RUN
        stage[went_up] = _RUN_TOP
    unbounded = (s.hi < 0) & (s.lo >= k_max)
    idx = np.arange(n)
    rtt = np.where(unbounded, np.nan, value(idx, s.lo))
    above_ms = np.where(s.hi >= 0, value(idx, np.maximum(s.hi, 0)), np.nan)
    return Budget(rtt, unbounded, above_ms)


_TOP, _GUESS, _RUN, _RUN_TOP, _DONE = 0, 1, 2, 3, 4
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

    def next(self, live: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
        """The next lattice point of every open ``live`` pair: gallop by doubling gaps, then bisect."""
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


def search_grouped(
    judge: Judge,
    ask: BudgetAsk,
    group: IntArray,
    step_ms: float,
    carry: Callable[[IntArray, IntArray, FloatArray], FloatArray] | None = None,
) -> Budget:
    """:func:`search_budgets`, one pair of each ``group`` first; the others start at its answer.

    A landmark's budget is set by its own disk reaching the zone's outline, so for the sites that
    share a landmark and a zone it is usually the same grid point: each of them then costs two
    engine rows (that point, proven, and the next, not), and any that differs searches on.
    ``group`` holds one key per pair, or a row of keys. ``carry(members, their firsts, the firsts'
    budgets)`` says where each other pair starts (default: at its first's budget).
    """
    n = ask.site.size
    _, first, inverse = np.unique(group, axis=0, return_index=True, return_inverse=True)
    reps = np.sort(first)
    done = search_budgets(judge, ask.take(reps), step_ms)
    rtt, unbounded, above = np.full(n, np.nan), np.zeros(n, dtype=bool), np.full(n, np.nan)
    rtt[reps], unbounded[reps], above[reps] = done.rtt_ms, done.unbounded, done.above_ms
    members = np.setdiff1d(np.arange(n), reps)
    if members.size:
        rep_of = first[inverse.ravel()[members]]
        order = np.searchsorted(reps, rep_of)
        start = done.rtt_ms[order] if carry is None else carry(members, rep_of, done.rtt_ms[order])
        hint = np.where(done.unbounded[order], ask.guess[members], start + step_ms / 2)
        sub = ask.take(members)
        sub = BudgetAsk(
            sub.site, sub.deployment, sub.landmark, sub.rtt0, hint, done.unbounded[order], sub.raised
        )
        rest = search_budgets(judge, sub, step_ms, shift=0.0)
        rtt[members], unbounded[members], above[members] = rest.rtt_ms, rest.unbounded, rest.above_ms
    return Budget(rtt, unbounded, above)
