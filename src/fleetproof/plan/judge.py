"""The engine's verdict on modelled RTTs, for many sites and deployments at once.

A plan asks the engine the same question many times with small changes: this site,
this set of landmarks, every RTT as the delay model has it, perhaps one RTT raised.
:class:`Judge` answers a batch of such *rows* with :meth:`Verifier.verify_matrix
<fleetproof.geo.Verifier.verify_matrix>`, built with the server's settings, so that a
plan's ``proven`` is the engine's ``proven``.

Rows are grouped by deployment and zone and sorted by place, in blocks of the engine's
own chunk size; each block gets a :class:`~fleetproof.geo.Verifier` over the landmarks
its rows can feel. A landmark is left out of a block only when, for every row of it,
its disk holds the whole neighbourhood that the row's tightest ``tolerance + 1`` disks
span, widened by :data:`SPARE_RAD` (far more than a grid cell's margin): the tolerant region
lies inside the union of any ``tolerance + 1`` disks, so such a disk excludes no place
the engine looks at, and the verdict is the one all landmarks give
(``tests/plan/test_engine_agreement.py`` checks it against the whole set). Without this
a row would carry every landmark of the fleet, and a plan of 10,000 sites would spend
most of its time on disks thousands of kilometres wide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fleetproof.geo import Claim, CountryTable, Landmark, Verifier
from fleetproof.geo.sphere import EARTH_RADIUS_KM, unit_vectors
from fleetproof.plan.model import DelayPlan, EngineSettings

__all__ = ["BLOCK", "SPARE_RAD", "Judge", "Rows", "needed_mask"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: Rows per engine call (the engine's own chunk size).
BLOCK = 256
#: Angle (radians, 1°: nearly three times a grid cell's reach) by which a left-out disk must
#: overreach a row's tightest disks.
SPARE_RAD = float(np.radians(1.0))

Runner = Callable[[Callable[[int], list[str | None]], int], list[list[str | None]]]


def _serial(fn: Callable[[int], list[str | None]], n: int) -> list[list[str | None]]:
    return [fn(k) for k in range(n)]


@dataclass(frozen=True)
class Rows:
    """Questions for the engine: ``site`` measured by ``deployment`` (an index into the judge's
    deployments), every RTT modelled except pool landmark ``override`` (−1: none), which shows
    ``override_rtt`` ms; and, where ``raised`` is given (one row of pool landmarks per question,
    −1 padded), those landmarks each show ``raise_ms`` more than modelled — a joint delay."""

    site: IntArray
    deployment: IntArray
    override: IntArray
    override_rtt: FloatArray
    raised: IntArray | None = None
    raise_ms: FloatArray | None = None

    @staticmethod
    def plain(sites: IntArray, deployment: int) -> Rows:
        n = sites.size
        return Rows(
            np.asarray(sites, dtype=np.int64),
            np.full(n, deployment, dtype=np.int64),
            np.full(n, -1, dtype=np.int64),
            np.full(n, np.nan),
        )

    def __len__(self) -> int:
        return int(self.site.size)


class Judge:
    """Engine verdicts for rows over a pool of landmarks (existing ones and candidates alike)."""

    def __init__(
        self,
        pool: Sequence[Landmark],
        site_lat: FloatArray,
        site_lon: FloatArray,
        claims: Sequence[Claim | None],
        group: IntArray,
        delay: DelayPlan,
        engine: EngineSettings,
        countries: CountryTable,
        runner: Runner | None = None,
    ) -> None:
        self.pool = tuple(pool)
        self.pool_vec = unit_vectors(
            np.array([lm.lat for lm in self.pool], dtype=np.float64),
            np.array([lm.lon for lm in self.pool], dtype=np.float64),
        ).reshape(-1, 3)
        self.site_vec = unit_vectors(site_lat, site_lon).reshape(-1, 3)
        self.claims = list(claims)
        self.group = np.asarray(group, dtype=np.int64)
        self.place = countries.grid.cell_of(site_lat, site_lon).astype(np.int64)
        self.delay = delay
        self.engine = engine
        self.countries = countries
        self.deployments: list[IntArray] = []
        self.runner = runner or _serial
        #: Engine rows asked so far (for the summary and the benchmarks).
        self.rows_judged = 0

    def add_deployment(self, landmarks: IntArray) -> int:
        """Register a set of pool landmarks that sites measure; returns its index for :class:`Rows`."""
        self.deployments.append(np.unique(np.asarray(landmarks, dtype=np.int64)))
        return len(self.deployments) - 1

    def modelled_rtt(self, site: IntArray, landmarks: IntArray) -> FloatArray:
        """(len(site), len(landmarks)) modelled RTTs, ms."""
        dots = self.site_vec[site] @ self.pool_vec[landmarks].T
        return self.delay.rtt_ms(np.arccos(np.clip(dots, -1.0, 1.0)) * EARTH_RADIUS_KM)

    def verdicts(self, rows: Rows) -> list[str | None]:
        """The engine's verdict for each row (``None`` where the site has no claim to test)."""
        n = len(rows)
        out: list[str | None] = [None] * n
        has_claim = np.array([self.claims[s] is not None for s in rows.site.tolist()], dtype=bool)
        todo = np.flatnonzero(has_claim)
        order = todo[
            np.lexsort((self.place[rows.site[todo]], self.group[rows.site[todo]], rows.deployment[todo]))
        ]
        blocks: list[IntArray] = []
        start = 0
        keys = rows.deployment[order] * (int(self.group.max(initial=0)) + 1) + self.group[rows.site[order]]
        while start < order.size:
            end = min(start + BLOCK, order.size)
            same = np.flatnonzero(keys[start:end] != keys[start])  # one deployment and zone per block
            if same.size:
                end = start + int(same[0])
            blocks.append(order[start:end])
            start = end
        parts = self.runner(lambda k: self._block(rows, blocks[k]), len(blocks))
        for idx, verdicts in zip(blocks, parts, strict=True):
            for i, v in zip(idx.tolist(), verdicts, strict=True):
                out[i] = v
        self.rows_judged += int(order.size)
        return out

    def _block(self, rows: Rows, idx: IntArray) -> list[str | None]:
        """One engine call for rows of one deployment and zone."""
        deployed = self.deployments[int(rows.deployment[idx[0]])]
        sites = rows.site[idx]
        ang = np.arccos(np.clip(self.site_vec[sites] @ self.pool_vec[deployed].T, -1.0, 1.0))
        rtt = self.delay.rtt_ms(ang * EARTH_RADIUS_KM)
        over = rows.override[idx]
        at = np.flatnonzero(over >= 0)
        if at.size:
            pos = np.searchsorted(deployed, over[at])
            if not np.all(deployed[np.minimum(pos, deployed.size - 1)] == over[at]):
                raise ValueError("an overridden landmark is not in the row's deployment")
            rtt[at, pos] = rows.override_rtt[idx[at]]
        if rows.raised is not None and rows.raise_ms is not None:
            raised = rows.raised[idx]
            r, c = np.nonzero(raised >= 0)
            pos = np.searchsorted(deployed, raised[r, c])
            if not np.all(deployed[np.minimum(pos, deployed.size - 1)] == raised[r, c]):
                raise ValueError("a raised landmark is not in the row's deployment")
            rtt[r, pos] += rows.raise_ms[idx][r]
        cols = self._needed(ang, rtt)
        verifier = Verifier(
            [self.pool[j] for j in deployed[cols].tolist()],
            self.countries,
            speed=self.engine.speed,
            tolerance=self.engine.tolerance,
            min_landmarks=self.engine.min_landmarks,
            refine_depth=self.engine.refine_depth,
        )
        verifier.explain = False  # verdicts only: what blocks a proof is not asked here
        claims = []
        for i, s in enumerate(sites.tolist()):
            base = self.claims[s]
            assert base is not None
            claims.append((i, replace(base, target=f"row{i}")))
        results = verifier.verify_matrix([f"row{i}" for i in range(idx.size)], rtt[:, cols], claims)
        return [r.verdict for r in results]

    def _needed(self, ang: FloatArray, rtt: FloatArray) -> IntArray:
        """Columns some row of the block can feel (see the module docstring)."""
        return np.flatnonzero(needed_mask(ang, rtt, self.engine).any(axis=0))


def needed_mask(ang: FloatArray, rtt: FloatArray, engine: EngineSettings) -> npt.NDArray[np.bool_]:
    """Per row (a site) and column (a landmark ``ang`` radians away showing ``rtt`` ms): whether the
    landmark can matter to the row's verdict — it is among the engine's ``min_landmarks`` tightest, or
    its disk does not hold the neighbourhood the row's tightest ``tolerance + 1`` disks span, widened
    by :data:`SPARE_RAD` (see the module docstring)."""
    n_rows, n_cols = rtt.shape
    keep_n = min(max(engine.min_landmarks, engine.tolerance + 1), n_cols)
    if n_cols <= keep_n:
        return np.ones((n_rows, n_cols), dtype=bool)
    rad = engine.speed.max_angle_rad(rtt)
    seeds = np.argpartition(rad, keep_n - 1, axis=1)[:, :keep_n]
    t1 = min(engine.tolerance + 1, n_cols)
    seed_rad = np.take_along_axis(rad, seeds, axis=1)
    tight = np.take_along_axis(seeds, np.argsort(seed_rad, axis=1, kind="stable")[:, :t1], axis=1)
    span = np.max(np.take_along_axis(ang + rad, tight, axis=1), axis=1)
    keep = rad < ang + span[:, None] + SPARE_RAD
    keep[np.repeat(np.arange(n_rows), keep_n), seeds.ravel()] = True
    return np.asarray(keep, dtype=bool)
