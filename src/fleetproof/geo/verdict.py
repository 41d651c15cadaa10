"""Verdicts with evidence: the :class:`Verifier` that the batch CLI and the server share.

A claim's verdict follows from the speed bound alone (see :mod:`fleetproof.geo.region`):

- ``violation`` — no place of the claim lies in the tolerant feasible region: at
  least ``tolerance + 1`` landmarks (default 2) each exclude every place of it,
  so even one mislocated landmark cannot cause it;
- ``proven`` — the whole tolerant region lies inside the claim (only possible for
  areas: countries and regions);
- ``consistent`` — neither; ``unknown`` — fewer than ``min_landmarks`` valid RTTs.

``suspicious`` is the statistical layer: the likelihood-ratio statistic
``2·(max log L − log L(claim))`` under the calibrated
:class:`~fleetproof.geo.model.DelayModel` exceeds its threshold, or a single
landmark (within the tolerance) contradicts the claim. A ``proven`` claim is never
``suspicious``: a proof outranks the model. A ``consistent`` area claim says what
stands in the way of ``proven`` (``blocked_by``: :mod:`fleetproof.geo.blocking`).

The :class:`Verifier` shapes the input (RTT rows in landmark order, chunks of targets) and
assembles the results; the verdicts themselves come from :mod:`fleetproof.geo.point_verdicts`
and :mod:`fleetproof.geo.area_verdicts` (which keeps its claimed areas in
:mod:`fleetproof.geo.claim_areas`), the result types from :mod:`fleetproof.geo.results`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from fleetproof.geo.area_verdicts import AreaVerdicts
from fleetproof.geo.claims import Claim
from fleetproof.geo.countries import CountryTable
from fleetproof.geo.estimate import EstimateBatch, estimate_batch
from fleetproof.geo.grid import Grid
from fleetproof.geo.landmarks import Landmark, LandmarkSet
from fleetproof.geo.model import DelayModel
from fleetproof.geo.point_verdicts import point_verdicts
from fleetproof.geo.refine import DEFAULT_DEPTH
from fleetproof.geo.region import FeasibleRegion, feasible_cells
from fleetproof.geo.results import Estimate, Result, Verdict, base_evidence, estimates
from fleetproof.geo.speed import SpeedModel

__all__ = ["Estimate", "Result", "Verdict", "Verifier"]

FloatArray = npt.NDArray[np.float64]
#: Targets decided together: bounds the arrays of one chunk.
CHUNK = 256


class Verifier:
    """Built once from trusted landmarks (+ countries, speed and delay models); answers many targets.

    >>> lms = [Landmark("a", 48.86, 2.35), Landmark("b", 52.52, 13.40), Landmark("c", 40.42, -3.70)]
    >>> v = Verifier(lms)
    >>> rtts = {"a": 2.0, "b": 16.0, "c": 19.0}   # a host near Paris
    >>> claims = [Claim.point("p", "h", 48.85, 2.35), Claim.point("q", "h", 35.7, 139.7)]
    >>> [r.verdict for r in v.verify(rtts, claims)]
    ['consistent', 'violation']
    """

    def __init__(
        self,
        landmarks: Sequence[Landmark],
        countries: CountryTable | None = None,
        speed: SpeedModel | None = None,
        model: DelayModel | None = None,
        tolerance: int = 1,
        min_landmarks: int = 3,
        refine_depth: int = DEFAULT_DEPTH,
    ) -> None:
        self.landmarks = LandmarkSet(landmarks)
        self.countries = countries
        self.grid = countries.grid if countries is not None else Grid(0.5)
        self.speed = speed or SpeedModel()
        self.model = model or DelayModel.default()
        self.offsets = self.model.offsets_for(self.landmarks.ids)
        self.scales = self.model.scales_for(self.landmarks.ids)
        self.tolerance = tolerance
        self.min_landmarks = max(min_landmarks, tolerance + 1)
        #: Levels of 4×4 subdivision for cells that block a verdict (0: decide on grid cells only).
        self.refine_depth = refine_depth
        self._areas = AreaVerdicts(self)
        #: Decide country and region claims of a chunk together (False: one at a time, the reference path).
        self.batched = True
        #: Say in a ``consistent`` area verdict's evidence what blocks ``proven`` (``blocked_by``). A caller
        #: that reads verdicts only (a planner asking thousands of what-ifs) sets it False: the verdicts
        #: are the same, and that evidence is most of a tight region's cost.
        self.explain = True

    # ----- inputs
    def rtt_row(self, rtts: Mapping[str, float]) -> FloatArray:
        """One RTT row in landmark order; ids of unknown (e.g. quarantined) landmarks are ignored."""
        row = np.full(len(self.landmarks), np.nan)
        for lid, rtt in rtts.items():
            i = self.landmarks.index.get(lid)
            if i is not None and np.isfinite(rtt) and rtt >= 0:
                row[i] = min(float(rtt), row[i]) if np.isfinite(row[i]) else float(rtt)
        return row

    # ----- one target
    def verify(
        self, rtts: Mapping[str, float], claims: Sequence[Claim] = (), target: str | None = None
    ) -> list[Result]:
        """Results for one target's RTTs (``{landmark_id: rtt_ms}``) and its claims."""
        name = target if target is not None else (claims[0].target if claims else "")
        return self.verify_matrix([name], self.rtt_row(rtts)[None, :], [(0, c) for c in claims])

    def region(self, rtts: Mapping[str, float]) -> FeasibleRegion:
        """The tolerant feasible region of one target; ``.to_geojson()`` draws it."""
        return self._region(self.rtt_row(rtts))

    def region_of_row(self, row: FloatArray) -> FeasibleRegion:
        """The tolerant feasible region for an RTT row in landmark order (NaN = no measurement)."""
        return self._region(row)

    def _region(self, row: FloatArray) -> FeasibleRegion:
        ok = np.isfinite(row)
        cells, counts = feasible_cells(
            self.grid, self.landmarks.vectors[ok], self.speed.max_angle_rad(row[ok]), self.tolerance
        )
        return FeasibleRegion(self.grid, cells, counts, self.tolerance)

    # ----- many targets
    def estimate_matrix(self, rtt: FloatArray) -> EstimateBatch:
        """Vectorised estimates for an RTT matrix (T, L) in landmark order (NaN = no measurement)."""
        return estimate_batch(
            rtt, self.landmarks.vectors, self.offsets, self.scales, self.model, self.speed, self.countries
        )

    def verify_matrix(
        self,
        targets: Sequence[str],
        rtt: FloatArray,
        claims: Sequence[tuple[int, Claim]],
        progress: Callable[[int], None] | None = None,
    ) -> list[Result]:
        """Results for T targets: ``rtt`` is (T, L); ``claims`` pairs a row index with a claim.

        Targets without claims get one result with ``verdict=None``. Work is done in
        chunks of rows; ``progress`` is called with the number of rows finished.
        """
        by_row: dict[int, list[Claim]] = {}
        for row, claim in claims:
            by_row.setdefault(row, []).append(claim)
        out: list[Result] = []
        for lo in range(0, len(targets), CHUNK):
            hi = min(lo + CHUNK, len(targets))
            out.extend(self._chunk(targets, rtt, lo, hi, by_row))
            if progress is not None:
                progress(hi - lo)
        return out

    def _chunk(
        self, targets: Sequence[str], rtt: FloatArray, lo: int, hi: int, by_row: Mapping[int, list[Claim]]
    ) -> list[Result]:
        block = rtt[lo:hi]
        est = self.estimate_matrix(block)
        n_valid = np.sum(np.isfinite(block), axis=1).tolist()
        found = estimates(est, self.countries)
        bases = base_evidence(self, block, n_valid)
        rows_claims = [(i, c) for i in range(hi - lo) for c in by_row.get(lo + i, [])]
        points = [(i, c) for i, c in rows_claims if c.kind == "point" and n_valid[i] >= self.min_landmarks]
        point_results = dict(
            zip((id(c) for _, c in points), point_verdicts(self, block, est, points), strict=True)
        )
        areas = [(i, c) for i, c in rows_claims if c.kind != "point" and n_valid[i] >= self.min_landmarks]
        area_results = dict(
            zip((id(c) for _, c in areas), self._areas.decide(block, est, areas, self.batched), strict=True)
        )
        out = []
        for i in range(hi - lo):
            claims = by_row.get(lo + i, [])
            if not claims:
                out.append(Result(None, targets[lo + i], None, False, found[i], bases[i]))
            for c in claims:
                if n_valid[i] < self.min_landmarks:
                    ev = {**bases[i], "reason": f"{n_valid[i]} valid RTTs, {self.min_landmarks} needed"}
                    out.append(Result(c.id, c.target, "unknown", False, found[i], ev))
                    continue
                verdict, suspicious, ev = (point_results if c.kind == "point" else area_results)[id(c)]
                out.append(Result(c.id, c.target, verdict, suspicious, found[i], {**bases[i], **ev}))
        return out
