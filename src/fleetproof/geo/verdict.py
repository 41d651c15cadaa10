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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fleetproof.geo.blocking import Territories, blocked_by, coarse_many
from fleetproof.geo.claims import Claim, geojson_polygons
from fleetproof.geo.countries import CountryTable
from fleetproof.geo.estimate import EstimateBatch, estimate_batch, log_likelihood
from fleetproof.geo.grid import Grid, in_sorted
from fleetproof.geo.landmarks import Landmark, LandmarkSet
from fleetproof.geo.model import DelayModel
from fleetproof.geo.raster import CellArea, disjoint_groups, polygon_edges, rasterize
from fleetproof.geo.refine import DEFAULT_DEPTH, Boundary, Refined, Shape, refine
from fleetproof.geo.region import (
    BlockedCells,
    FeasibleRegion,
    feasible_cells,
    surviving,
    surviving_many,
)
from fleetproof.geo.speed import SpeedModel
from fleetproof.geo.sphere import EARTH_RADIUS_KM, unit_vectors
from fleetproof.geo.waters import WaterShape

__all__ = ["Estimate", "Result", "Verdict", "Verifier"]

Verdict = Literal["violation", "proven", "consistent", "unknown"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CHUNK = 256
#: Cells probed before computing a whole region for a ``proven`` test; cells sampled for a likelihood.
PROBE_SIDE = 8
#: Probe cells per claim tested first when many claims are probed together.
PROBE_FIRST = 6
MAX_LL_CELLS = 2048
EVIDENCE_LANDMARKS = 5
#: Sub-cells per side whose centres may stand in for an estimate just outside its claim.
SUB_SIDE = 4
#: ``proven`` is refined only for regions whose tightest disk is at most this wide (radians, 3°):
#: a wider region that reaches into the claim's border cells nearly always leaves the claim, and
#: computing it whole to find out would cost more than refinement saves.
REFINE_PROVEN_MAX_RAD = float(np.radians(3.0))
#: Claims whose ``blocked_by`` is found together (bounds the arrays of :func:`coarse_many`).
COARSE_BATCH = 64


def _excluded_count(grid: Grid, cell: int, vecs: FloatArray, rad: FloatArray) -> int:
    """How many disks exclude one cell entirely."""
    reach = rad + float(grid.cell_margin(np.array([cell]))[0])
    dots = vecs @ grid.centers[cell]
    return int(np.sum((reach < np.pi) & (dots < np.cos(np.minimum(reach, np.pi)) - 1e-12)))


def _latlon_many(v: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Latitudes and longitudes (degrees) of unit vectors (N, 3), as :func:`_latlon` computes them."""
    return np.degrees(np.arcsin(np.clip(v[:, 2], -1.0, 1.0))), np.degrees(np.arctan2(v[:, 1], v[:, 0]))


def _latlon(v: FloatArray) -> tuple[float, float]:
    return float(np.degrees(np.arcsin(np.clip(v[2], -1.0, 1.0)))), float(np.degrees(np.arctan2(v[1], v[0])))


def _r(x: float, nd: int = 1) -> float | None:
    return None if not np.isfinite(x) else round(float(x), nd)


@dataclass(frozen=True)
class Estimate:
    """Best point, radius holding 90 % of the posterior, most likely country and its probability."""

    lat: float | None
    lon: float | None
    radius_km: float | None
    country: str | None
    country_p: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "lat": self.lat,
            "lon": self.lon,
            "radius_km": self.radius_km,
            "country": self.country,
            "country_p": self.country_p,
        }


@dataclass(frozen=True)
class Result:
    """The answer for one claim (or one target without claims: ``verdict`` is then ``None``)."""

    claim: str | None
    target: str
    verdict: Verdict | None
    suspicious: bool
    estimate: Estimate
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "target": self.target,
            "verdict": self.verdict,
            "suspicious": self.suspicious,
            "estimate": self.estimate.to_json(),
            "evidence": self.evidence,
        }


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
        self._shapes: dict[object, tuple[Boundary, ...] | None] = {}
        self._country_shapes: dict[str, Shape] = {}
        self._territory = Territories(countries)
        self._areas: dict[object, tuple[CellArea, BlockedCells]] = {}
        self._area_keys: dict[object, int] = {}
        self._area_index: tuple[int, IntArray, IntArray] = (0, np.zeros(0, np.int64), np.zeros(0, np.int64))
        #: Decide country and region claims of a chunk together (False: one at a time, the reference path).
        self.batched = True

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
        estimates = self._estimates(est)
        bases = self._bases(block, n_valid)
        rows_claims = [(i, c) for i in range(hi - lo) for c in by_row.get(lo + i, [])]
        points = [(i, c) for i, c in rows_claims if c.kind == "point" and n_valid[i] >= self.min_landmarks]
        point_results = dict(zip((id(c) for _, c in points), self._points(block, est, points), strict=True))
        areas = [(i, c) for i, c in rows_claims if c.kind != "point" and n_valid[i] >= self.min_landmarks]
        area_results = dict(zip((id(c) for _, c in areas), self._area_claims(block, est, areas), strict=True))
        out = []
        for i in range(hi - lo):
            claims = by_row.get(lo + i, [])
            if not claims:
                out.append(Result(None, targets[lo + i], None, False, estimates[i], bases[i]))
            for c in claims:
                if n_valid[i] < self.min_landmarks:
                    ev = {**bases[i], "reason": f"{n_valid[i]} valid RTTs, {self.min_landmarks} needed"}
                    out.append(Result(c.id, c.target, "unknown", False, estimates[i], ev))
                    continue
                verdict, suspicious, ev = (point_results if c.kind == "point" else area_results)[id(c)]
                out.append(Result(c.id, c.target, verdict, suspicious, estimates[i], {**bases[i], **ev}))
        return out

    def _estimates(self, est: EstimateBatch) -> list[Estimate]:
        codes = self.countries.codes if self.countries is not None else ()
        lat = np.round(est.lat, 4).tolist()
        lon = np.round(est.lon, 4).tolist()
        rad = np.round(est.radius_km, 1).tolist()
        cp = np.round(est.country_p, 3).tolist()
        out = []
        for i, k in enumerate(est.country.tolist()):
            if lat[i] != lat[i]:  # NaN: no measurement at all
                out.append(Estimate(None, None, None, None, None))
            else:
                out.append(Estimate(lat[i], lon[i], rad[i], codes[k] if k >= 0 else None, cp[i]))
        return out

    def _bases(self, block: FloatArray, n_valid: list[int]) -> list[dict[str, Any]]:
        """The evidence every result carries: how many landmarks, and the three tightest bounds."""
        k = min(3, block.shape[1])
        filled = np.where(np.isfinite(block), block, np.inf)
        part = (
            np.argpartition(filled, k - 1, axis=1)[:, :k]
            if k < block.shape[1]
            else np.argsort(filled, axis=1)
        )
        tight = np.take_along_axis(part, np.argsort(np.take_along_axis(filled, part, axis=1), axis=1), axis=1)
        rtts = np.take_along_axis(block, tight, axis=1)
        rtt_l = np.round(rtts, 3).tolist()
        bound_l = np.round(self.speed.max_distance_km(rtts), 1).tolist()
        ids = self.landmarks.ids
        out = []
        for i, row in enumerate(tight.tolist()):
            tightest = [
                {"landmark": ids[j], "rtt_ms": rtt_l[i][m], "bound_km": bound_l[i][m]}
                for m, j in enumerate(row)
                if rtt_l[i][m] == rtt_l[i][m]
            ]
            out.append({"landmarks_used": n_valid[i], "tolerance": self.tolerance, "tightest": tightest})
        return out

    # ----- point claims, vectorised
    def _points(
        self, block: FloatArray, est: EstimateBatch, points: Sequence[tuple[int, Claim]]
    ) -> list[tuple[Verdict, bool, dict[str, Any]]]:
        if not points:
            return []
        rows = np.array([i for i, _ in points], dtype=np.int64)
        lat = np.array([c.lat for _, c in points], dtype=np.float64)
        lon = np.array([c.lon for _, c in points], dtype=np.float64)
        q = unit_vectors(lat, lon).reshape(-1, 3)
        r = block[rows]
        ok = np.isfinite(r)
        r0 = np.where(ok, r, 0.0)
        ang = np.arccos(np.clip(q @ self.landmarks.vectors.T, -1.0, 1.0))
        limit = self.speed.max_angle_rad(r0)
        excl = ok & (ang > limit)
        n_excl = excl.sum(axis=1)
        dist_km = ang * EARTH_RADIUS_KM
        bound_km = self.speed.max_distance_km(r0)
        excess = np.where(excl, dist_km - bound_km, -np.inf)
        t = est.terms
        ll = log_likelihood(q[:, None, :], t.rows(rows), self.model)[:, 0]
        lr = np.maximum(2.0 * (est.max_ll[rows] - ll), 0.0)
        out: list[tuple[Verdict, bool, dict[str, Any]]] = []
        for k in range(rows.size):
            n = int(n_excl[k])
            verdict: Verdict = "violation" if n > self.tolerance else "consistent"
            ev: dict[str, Any] = {
                "claim": {"kind": "point", "lat": points[k][1].lat, "lon": points[k][1].lon},
                "contradicting_count": n,
                "likelihood_ratio": _r(lr[k], 2),
                "suspicious_threshold": round(self.model.lr_threshold, 2),
            }
            if n:
                top = np.argsort(-excess[k], kind="stable")[: min(n, EVIDENCE_LANDMARKS)]
                ev["contradicting"] = [
                    {
                        "landmark": self.landmarks.ids[j],
                        "rtt_ms": _r(r[k, j], 3),
                        "bound_km": _r(bound_km[k, j]),
                        "distance_km": _r(dist_km[k, j]),
                    }
                    for j in top.tolist()
                ]
            suspicious = bool(n > 0 or lr[k] > self.model.lr_threshold)
            out.append((verdict, suspicious, ev))
        return out

    # ----- countries and regions
    @staticmethod
    def _area_key(claim: Claim) -> object:
        if claim.kind == "countries":
            return ("countries", tuple(sorted(claim.countries)))
        return ("region", id(claim.region))

    def _area(self, claim: Claim) -> tuple[CellArea, BlockedCells]:
        """The claim's cells, and the same grouped in blocks; cached per country set or region."""
        key = self._area_key(claim)
        if key not in self._areas:
            if claim.kind == "countries":
                if self.countries is None:
                    raise ValueError("country claims need a CountryTable")
                area = self.countries.area(claim.countries)
            else:
                assert claim.region is not None
                area = rasterize(geojson_polygons(claim.region), self.grid)
            self._areas[key] = (area, BlockedCells.build(self.grid, area.touched))
        return self._areas[key]

    def _shape(self, claim: Claim) -> tuple[Boundary, ...] | None:
        """The claim's boundary for refinement, built on first need; None where only cells are known."""
        key = self._area_key(claim)
        if key not in self._shapes:
            parts: tuple[Boundary, ...] | None = None
            if claim.kind == "region":
                assert claim.region is not None
                parts = tuple(
                    Shape.build(self.grid, polygon_edges([ring for poly in group for ring in poly]))
                    for group in disjoint_groups(geojson_polygons(claim.region))
                )
            elif self.countries is not None and (coasts := self.countries.coasts()) is not None:
                # The claim includes the countries' waters: one boundary for land and sea together.
                if all(code.strip().upper() in coasts.codes for code in claim.countries):
                    parts = (WaterShape.build(coasts, claim.countries),)
            elif self.countries is not None and self.countries.edges is not None:
                edges = self.countries.edges
                if all(code in edges for code in claim.countries):
                    for code in claim.countries:
                        if code not in self._country_shapes:
                            self._country_shapes[code] = Shape.build(self.grid, edges[code])
                    parts = tuple(self._country_shapes[code] for code in claim.countries)
            self._shapes[key] = parts
        return self._shapes[key]

    def _refine(
        self,
        claim: Claim,
        cells: IntArray,
        vecs: FloatArray,
        rad: FloatArray,
        goal: Literal["violation", "proven"],
        depth: int | None = None,
    ) -> Refined:
        area = self._area(claim)[0]
        return refine(
            self.grid,
            cells,
            area.full,
            area.touched,
            lambda: self._shape(claim),
            vecs,
            rad,
            self.tolerance,
            goal,
            self.refine_depth if depth is None else depth,
        )

    def _area_ids(self, claims: Sequence[Claim]) -> tuple[IntArray, IntArray, IntArray]:
        """A number per claimed area; sorted ``area * n_cells + cell`` keys of touched and of full cells."""
        ids = np.empty(len(claims), dtype=np.int64)
        for k, c in enumerate(claims):
            key = self._area_key(c)
            if key not in self._area_keys:
                self._area(c)
                self._area_keys[key] = len(self._area_keys)
            ids[k] = self._area_keys[key]
        done, touched, full = self._area_index
        if done != len(self._area_keys):  # append the new areas: numbered in order, so still sorted
            n = self.grid.n_cells
            new = [(k * n, self._areas[key][0]) for key, k in self._area_keys.items() if k >= done]
            touched = np.concatenate([touched, *(base + a.touched for base, a in new)])
            full = np.concatenate([full, *(base + a.full for base, a in new)])
            self._area_index = (len(self._area_keys), touched, full)
        return ids, self._area_index[1], self._area_index[2]

    def _area_claims(
        self, block: FloatArray, est: EstimateBatch, items: Sequence[tuple[int, Claim]]
    ) -> list[tuple[Verdict, bool, dict[str, Any]]]:
        """Country and region claims of a chunk: :meth:`_area_claim` for each, the common case batched.

        Claims whose estimate is a witness (see :meth:`_area_claim`) are decided together with
        a few numpy calls for the whole chunk; the others, and any claim whose sparse probe
        finds no feasible cell outside the area, take :meth:`_area_claim` itself. The results
        are the same (``tests/geo/test_batched_areas.py`` compares the two on random fleets).
        """
        if not items or not self.batched:
            return [self._area_claim(block[i], est, i, c) for i, c in items]
        rows = np.array([i for i, _ in items], dtype=np.int64)
        ids, touched, full = self._area_ids([c for _, c in items])
        n = self.grid.n_cells
        r = block[rows]
        ok = np.isfinite(r)
        rad = np.where(ok, self.speed.max_angle_rad(np.where(ok, r, 0.0)), np.inf)
        lat, lon = est.lat[rows], est.lon[rows]
        has = np.isfinite(lat)
        cell = self.grid.cell_of(np.where(has, lat, 0.0), np.where(has, lon, 0.0))
        reach = rad + self.grid.cell_margin(cell)[:, None]
        dots = self.grid.centers[cell] @ self.landmarks.vectors.T
        excluded = (reach < np.pi) & (dots < np.cos(np.minimum(reach, np.pi)) - 1e-12)
        wit = np.flatnonzero(has & in_sorted(touched, ids * n + cell) & ~excluded.any(axis=1))
        if self.refine_depth > 0 and wit.size:
            exact = self._exact_witnesses(
                [items[k][1] for k in wit.tolist()],
                lat[wit],
                lon[wit],
                rad[wit],
                in_sorted(full, ids[wit] * n + cell[wit]),
            )
            wit = wit[exact]
        vec = unit_vectors(lat[wit], lon[wit]).reshape(-1, 3)
        ll = log_likelihood(vec[:, None, :], est.terms.rows(rows[wit]), self.model)[:, 0]
        wfull = in_sorted(full, ids[wit] * n + self.grid.cell_of(*_latlon_many(vec)))
        proven = np.zeros(wit.size, dtype=bool)
        # On the grid a feasible cell that is not full rules ``proven`` out, so a claim whose estimate
        # sits in a border cell is tried only where refinement can look inside that cell.
        tight = np.min(rad[wit], axis=1, initial=np.inf) <= REFINE_PROVEN_MAX_RAD
        need = np.flatnonzero(wfull | ((self.refine_depth > 0) & tight))
        proven[need], refined = self._inside_many(
            rad[wit[need]], ids[wit[need]], touched, full, [items[k] for k in wit[need]]
        )
        max_ll = est.max_ll[rows[wit]]
        lr = np.where(np.isfinite(max_ll), np.maximum(0.0, 2.0 * (max_ll - ll)), 0.0).tolist()
        out: list[tuple[Verdict, bool, dict[str, Any]] | None] = [None] * len(items)
        threshold = round(self.model.lr_threshold, 2)
        refined_at = {int(need[j]): r.evidence() for j, r in refined.items()}
        for m, k in enumerate(wit.tolist()):
            c = items[k][1]
            area = self._areas[self._area_key(c)][0]
            desc: dict[str, Any] = {"kind": c.kind}
            if c.kind == "countries":
                desc["countries"] = list(c.countries)
            else:
                desc["region"] = c.region_name
            ev: dict[str, Any] = {
                "claim": desc,
                "claim_cells": int(area.touched.size),
                "feasible_claim_cells": "at least 1 (the estimate's cell)",
                "likelihood_ratio": round(lr[m], 2),
                "suspicious_threshold": threshold,
            }
            if m in refined_at:
                ev["refined"] = refined_at[m]
            flagged = bool(lr[m] > self.model.lr_threshold) and not proven[m]
            out[k] = ("proven" if proven[m] else "consistent"), flagged, ev
        for k, (i, c) in enumerate(items):  # the rest, one at a time (blocked_by below, together)
            if out[k] is None:
                out[k] = self._area_claim(block[i], est, i, c, explain=False)
        # Regions too large to refine say what blocks them all at once, by cells; the others one by one.
        large = np.min(rad, axis=1, initial=np.inf) > REFINE_PROVEN_MAX_RAD
        if self.refine_depth <= 0:
            large[:] = True
        todo = [k for k, o in enumerate(out) if o is not None and o[0] == "consistent"]
        for k in todo:
            if not large[k]:
                o = out[k]
                assert o is not None
                o[2]["blocked_by"] = self._blocked_by(items[k][1], r[k])
        large_ones = np.array([k for k in todo if large[k]], dtype=np.int64)
        for lo in range(0, large_ones.size, COARSE_BATCH):  # in slices: each holds (points, disks, 3)
            many = large_ones[lo : lo + COARSE_BATCH]
            bound = self.speed.max_distance_km(np.nanmin(r[many], axis=1))
            codes = [self._claim_codes(items[k][1]) for k in many.tolist()]
            found = coarse_many(
                self.grid,
                self.countries,
                full,
                touched,
                ids[many],
                codes,
                self.landmarks.vectors,
                rad[many],
                self.tolerance,
                bound,
            )
            for k, entries in zip(many.tolist(), found, strict=True):
                o = out[k]
                assert o is not None
                o[2]["blocked_by"] = entries
        return [o for o in out if o is not None]

    def _blocked_by(self, claim: Claim, row: FloatArray) -> list[dict[str, Any]]:
        """Evidence for a ``consistent`` area claim: what of the region lies outside it (geo/blocking.py).

        ``row`` is the target's RTTs in landmark order. A region too large to refine is judged by
        cells (:func:`~fleetproof.geo.blocking.coarse_many`, as :meth:`_area_claims` does for many).
        """
        area = self._area(claim)[0]
        measured = np.flatnonzero(np.isfinite(row))
        rad_all = np.full(row.size, np.inf)
        rad_all[measured] = self.speed.max_angle_rad(row[measured])
        by_size = measured[np.argsort(rad_all[measured], kind="stable")]
        tightest_km = float(self.speed.max_distance_km(row[by_size[0]])) if by_size.size else float("inf")
        codes = self._claim_codes(claim)
        if not self._refines_proven(rad_all[by_size]):
            one = np.zeros(1, dtype=np.int64)
            return coarse_many(
                self.grid,
                self.countries,
                area.full,
                area.touched,
                one,
                [codes],
                self.landmarks.vectors,
                rad_all[None, :],
                self.tolerance,
                np.array([tightest_km]),
            )[0]
        vecs, rad = self.landmarks.vectors[by_size], rad_all[by_size]
        shape = self._shape(claim)
        return blocked_by(
            self.grid, area, shape, self._territory, vecs, rad, self.tolerance, True, tightest_km, codes
        )

    @staticmethod
    def _claim_codes(claim: Claim) -> list[str] | None:
        return [code.strip().upper() for code in claim.countries] if claim.kind == "countries" else None

    def _refines_proven(self, rad: FloatArray) -> bool:
        """Whether refinement may settle ``proven`` for a region whose disks have radii ``rad`` (sorted)."""
        return self.refine_depth > 0 and rad.size > 0 and bool(rad[0] <= REFINE_PROVEN_MAX_RAD)

    def _inside_many(
        self,
        rad: FloatArray,
        ids: IntArray,
        touched: IntArray,
        full: IntArray,
        items: Sequence[tuple[int, Claim]],
    ) -> tuple[npt.NDArray[np.bool_], dict[int, Refined]]:
        """:meth:`_inside` for many claims: ``rad`` (M, L) in landmark order, ``inf`` where unmeasured.

        All the sparse probes are tested at once (``touched``/``full``: the area-keyed cells of
        :meth:`_area_ids`); a claim whose probes do not settle it gets the rest of :meth:`_inside`.
        Also returns, by index, the claims that refinement proved.
        """
        result = np.zeros(rad.shape[0], dtype=bool)
        refined: dict[int, Refined] = {}
        if rad.shape[0] == 0:
            return result, refined
        order = np.argsort(rad, axis=1, kind="stable")
        rs = np.take_along_axis(rad, order, axis=1)
        refining = (self.refine_depth > 0) & (rs[:, 0] <= REFINE_PROVEN_MAX_RAD)
        seeds = np.minimum(self.tolerance + 1, np.isfinite(rad).sum(axis=1))
        probe = (seeds > 0) & (rs[np.arange(rs.shape[0]), np.maximum(seeds - 1, 0)] < np.pi)
        settled = np.zeros(rad.shape[0], dtype=bool)
        border_owner, border_cells = [], []
        for k in range(self.tolerance + 1):  # one sparse probe per seed cap, as in _inside
            claim_of = np.flatnonzero(probe & ~settled & (seeds > k))
            if claim_of.size == 0:
                break
            seed_rad = rs[claim_of, k]
            lat, lon = _latlon_many(self.landmarks.vectors[order[claim_of, k]])
            side = 2 * np.degrees(seed_rad) / self.grid.resolution_deg
            stride = np.maximum(1, (side / PROBE_SIDE).astype(np.int64))
            cells, seed_of = self.grid.cap_cells_many(lat, lon, seed_rad, stride)
            owner = claim_of[seed_of]
            key = ids[owner] * self.grid.n_cells + cells
            outside = ~in_sorted(full, key)
            cells, owner, key = cells[outside], owner[outside], key[outside]
            clear = ~(in_sorted(touched, key) & refining[owner])
            # Most probe cells are feasible: a few per claim usually settle it, the rest only if not.
            count = np.bincount(owner, minlength=rad.shape[0])
            rank = np.arange(owner.size) - (np.cumsum(count) - count)[owner]
            first = rank % np.maximum(count // PROBE_FIRST, 1)[owner] == 0
            for part in (first, ~first):
                part &= ~settled[owner]
                keep = surviving_many(
                    self.grid, cells[part], owner[part], self.landmarks.vectors, order, rs, self.tolerance
                )
                alive = np.flatnonzero(part)[keep]
                settled[owner[alive[clear[alive]]]] = True  # a feasible cell outside the area: not proven
                border_owner.append(owner[alive[~clear[alive]]])
                border_cells.append(cells[alive[~clear[alive]]])
        if border_owner:
            b_owner, b_cells = np.concatenate(border_owner), np.concatenate(border_cells)
            live = ~settled[b_owner]
            claims = [c for _, c in items]
            settled |= self._leaves_claim(claims, b_owner[live], b_cells[live], rad, self.landmarks.vectors)
        for m in np.flatnonzero(probe & ~settled).tolist():
            valid = int(np.isfinite(rs[m]).sum())
            vecs = self.landmarks.vectors[order[m, :valid]]
            result[m], how = self._inside(vecs, rs[m, :valid], items[m][1], probed=True)
            if how is not None:
                refined[m] = how
        return result, refined

    def _leaves_claim(
        self, claims: Sequence[Claim], owner: IntArray, cells: IntArray, rad: FloatArray, vecs: FloatArray
    ) -> npt.NDArray[np.bool_]:
        """Per claim: whether the centre of one of its feasible border ``cells`` is, exactly, a place of
        the tolerant region outside the claim — a witness that it is not ``proven``.

        ``owner`` names each cell's claim, ``rad`` (M, L) the claims' disk radii for ``vecs``.
        """
        found = np.zeros(len(claims), dtype=bool)
        if cells.size == 0:
            return found
        lat, lon = self.grid.center_latlon(cells)
        limit = np.where(rad < np.pi, np.cos(np.minimum(rad, np.pi)), -np.inf)
        q = self.grid.centers[cells]
        ok = np.flatnonzero(((q @ vecs.T) < limit[owner]).sum(axis=1) <= self.tolerance)
        sel, inside = self._in_claims(claims, owner, ok, lat, lon)
        found[owner[sel[~inside]]] = True
        return found

    def _in_claims(
        self, claims: Sequence[Claim], owner: IntArray, points: IntArray, lat: FloatArray, lon: FloatArray
    ) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Of ``points`` (indices into ``lat``/``lon``, each of claim ``owner[k]``), those whose claim has a
        known boundary, and whether each lies inside its claim (exact polygon test, grouped by area)."""
        groups: dict[object, list[int]] = {}
        for k in points.tolist():
            groups.setdefault(self._area_key(claims[int(owner[k])]), []).append(k)
        sels, ins = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=bool)]
        for ks in groups.values():
            parts = self._shape(claims[int(owner[ks[0]])])
            if parts is not None:
                sel = np.array(ks, dtype=np.int64)
                sels.append(sel)
                ins.append(np.any([p.inside(lon[sel], lat[sel]) for p in parts], axis=0))
        return np.concatenate(sels), np.concatenate(ins).astype(bool)

    def _area_claim(
        self, row: FloatArray, est: EstimateBatch, i: int, claim: Claim, explain: bool = True
    ) -> tuple[Verdict, bool, dict[str, Any]]:
        """Test the claim's own cells (not the whole region): cost grows with the claimed area only.

        Shortcut for the common honest case: when the cell of the estimate belongs to
        the claim and no disk excludes it, it is a witness that the claim is not a
        violation, and the likelihood ratio is taken at the estimate (to cell resolution).
        ``explain``: add ``blocked_by`` to a ``consistent`` result (the batched path adds it itself).
        """
        area, blocked = self._area(claim)
        ok = np.flatnonzero(np.isfinite(row))
        rad = self.speed.max_angle_rad(row[ok])
        order = np.argsort(rad, kind="stable")
        vecs, rad = self.landmarks.vectors[ok[order]], rad[order]
        desc: dict[str, Any] = {"kind": claim.kind}
        if claim.kind == "countries":
            desc["countries"] = list(claim.countries)
        else:
            desc["region"] = claim.region_name
        ev: dict[str, Any] = {"claim": desc, "claim_cells": int(area.touched.size)}
        terms = est.terms.rows(slice(i, i + 1))
        witness = self._witness(est, i, claim, vecs, rad)
        witness_full = False
        if witness is not None:
            ll = log_likelihood(witness[None, None, :], terms, self.model)[0]
            ev["feasible_claim_cells"] = "at least 1 (the estimate's cell)"
            cell = int(self.grid.cell_of(*_latlon(witness)))
            k = int(np.searchsorted(area.full, cell))
            witness_full = k < area.full.size and int(area.full[k]) == cell
        else:
            cand = blocked.candidates(vecs, rad, self.tolerance)
            cells, counts = surviving(self.grid, cand, vecs, rad, self.tolerance)
            ev["feasible_claim_cells"] = int(cells.size)
            # Only an overlap confined to border cells of the claim is worth a finer look.
            if cells.size and self.refine_depth > 0 and not in_sorted(area.full, cells).any():
                how = self._refine(claim, cells, vecs, rad, "violation")
                if how.decided:  # every feasible claim cell is excluded on a finer look
                    ev["refined"] = how.evidence()
                    cells = cells[:0]
            if cells.size == 0:
                ev["contradicting"] = self._area_contradictions(row, area)
                ev["contradicting_count"] = len(ev["contradicting"])
                return "violation", True, ev
            sample = cells[:: max(1, cells.size // MAX_LL_CELLS)]
            ll = log_likelihood(self.grid.centers[sample][None, :, :], terms, self.model)[0]
            if counts.min() > 0:
                ev["single_contradiction"] = True
        # A feasible cell that is not full rules ``proven`` out at once, unless refinement may look
        # inside it (see _area_claims).
        proven, shown = False, None
        if witness is None or witness_full or self._refines_proven(rad):
            proven, shown = self._inside(vecs, rad, claim)
        lr = max(0.0, 2.0 * float(est.max_ll[i] - np.max(ll))) if np.isfinite(est.max_ll[i]) else 0.0
        ev["likelihood_ratio"] = round(lr, 2)
        ev["suspicious_threshold"] = round(self.model.lr_threshold, 2)
        if proven and shown is not None:
            ev["refined"] = shown.evidence()
        # A proof outranks the model: a claim shown true is never flagged as doubtful.
        suspicious = not proven and bool(
            ev.get("single_contradiction", False) or lr > self.model.lr_threshold
        )
        if not proven and explain:  # (the batched path adds it for many claims at once)
            ev["blocked_by"] = self._blocked_by(claim, row)
        return ("proven" if proven else "consistent"), suspicious, ev

    def _witness(
        self, est: EstimateBatch, i: int, claim: Claim, vecs: FloatArray, rad: FloatArray
    ) -> FloatArray | None:
        """The estimate as a unit vector, if its cell is in the claim and inside every disk.

        When refining, the estimate itself must also be a place of the claim in the tolerant
        region (see :meth:`_exact_witnesses`), or it would stand in the way of a refined violation.
        """
        if not np.isfinite(est.lat[i]):
            return None
        area = self._area(claim)[0]
        cell = int(self.grid.cell_of(est.lat[i], est.lon[i]))
        if not in_sorted(area.touched, np.array([cell]))[0]:
            return None
        if _excluded_count(self.grid, cell, vecs, rad) > 0:
            return None
        lat, lon = np.array([est.lat[i]]), np.array([est.lon[i]])
        if self.refine_depth > 0:
            infull = in_sorted(area.full, np.array([cell]))
            if not self._exact_witnesses([claim], lat, lon, rad[None, :], infull, vecs)[0]:
                return None
        return unit_vectors(lat, lon).reshape(3)

    def _exact_witnesses(
        self,
        claims: Sequence[Claim],
        lat: FloatArray,
        lon: FloatArray,
        rad: FloatArray,
        infull: npt.NDArray[np.bool_],
        vecs: FloatArray | None = None,
    ) -> npt.NDArray[np.bool_]:
        """Which estimates stand for a place of their claim in the tolerant region, tested exactly.

        ``rad`` (M, L) are the disks' radii for ``vecs`` (all landmarks by default; ``inf``:
        no disk). An estimate in a full cell of its claim is tested against the disks alone.
        One in a border cell (just off a coast, across a border) may be replaced by the centre
        of a neighbouring full cell; failing that, the estimate and the centres of its cell's
        4×4 sub-cells are tested against the claim's polygons (without them, not taken).
        """
        v = self.landmarks.vectors if vecs is None else vecs
        limit = np.where(rad < np.pi, np.cos(np.minimum(rad, np.pi)), -np.inf)
        good = np.zeros(lat.size, dtype=bool)

        def feasible(owner: IntArray, plat: FloatArray, plon: FloatArray) -> npt.NDArray[np.bool_]:
            q = unit_vectors(plat, plon).reshape(-1, 3)
            return np.asarray(((q @ v.T) < limit[owner]).sum(axis=1) <= self.tolerance)

        full_at = np.flatnonzero(infull)
        good[full_at] = feasible(full_at, lat[full_at], lon[full_at])
        edge = np.flatnonzero(~infull)
        if edge.size == 0:
            return good
        g = self.grid
        cell = g.cell_of(lat[edge], lon[edge])
        row, col = np.divmod(cell, g.n_cols)
        dr, dc = (a.ravel() for a in np.meshgrid([-1, 0, 1], [-1, 0, 1], indexing="ij"))
        nrow, ncol = row[:, None] + dr, (col[:, None] + dc) % g.n_cols
        on_grid = (nrow >= 0) & (nrow < g.n_rows)
        owner = np.repeat(edge, dr.size)[on_grid.ravel()]
        near = (nrow * g.n_cols + ncol)[on_grid]
        ids, _, full_index = self._area_ids(claims)
        full_near = in_sorted(full_index, ids[owner] * g.n_cells + near)
        owner, near = owner[full_near], near[full_near]
        nlat, nlon = g.center_latlon(near)
        good[owner[feasible(owner, nlat, nlon)]] = True
        rest = edge[~good[edge]]
        if rest.size == 0:
            return good
        clat, clon = g.center_latlon(g.cell_of(lat[rest], lon[rest]))
        off = ((np.arange(SUB_SIDE) + 0.5) / SUB_SIDE - 0.5) * g.resolution_deg
        sy, sx = (a.ravel() for a in np.meshgrid(off, off, indexing="ij"))
        plat = np.concatenate([lat[rest], (clat[:, None] + sy).ravel()])
        plon = np.concatenate([lon[rest], (clon[:, None] + sx).ravel()])
        owner = np.concatenate([rest, np.repeat(rest, sy.size)])
        ok = np.flatnonzero(feasible(owner, plat, plon))
        sel, inside = self._in_claims(claims, owner, ok, plat, plon)
        good[owner[sel[inside]]] = True
        return good

    def _inside(
        self, vecs: FloatArray, rad: FloatArray, claim: Claim, probed: bool = False
    ) -> tuple[bool, Refined | None]:
        """Whether the whole tolerant region lies inside the claim, and the refinement that showed it.

        On cells alone: every region cell is a full cell of the area. A sparse probe of the
        region's bounding caps usually finds a feasible cell outside the area at once (outside
        its touched cells when refining, as border cells may still be settled on sub-cells);
        only when it does not is the whole region computed, and its cells that are not full
        refined (:mod:`fleetproof.geo.refine`). ``probed``: the same probes were already run
        (by :meth:`_inside_many`) and found nothing.
        """
        area = self._area(claim)[0]
        refining = self._refines_proven(rad)
        if (area.touched if refining else area.full).size == 0:
            return False, None
        seeds = min(self.tolerance + 1, rad.size)
        if seeds == 0 or rad[seeds - 1] >= np.pi:
            return False, None
        # One sparse probe per seed cap; any feasible cell outside the area settles it. When
        # refining, feasible border cells settle it only if one's centre is a witness.
        border = []
        for k in range(0 if probed else seeds):
            lat = float(np.degrees(np.arcsin(np.clip(vecs[k, 2], -1.0, 1.0))))
            lon = float(np.degrees(np.arctan2(vecs[k, 1], vecs[k, 0])))
            side = 2 * float(np.degrees(rad[k])) / self.grid.resolution_deg
            probe = self.grid.cap_cells(lat, lon, float(rad[k]), stride=max(1, int(side / PROBE_SIDE)))
            alive = surviving(self.grid, probe[~in_sorted(area.full, probe)], vecs, rad, self.tolerance)[0]
            on_border = in_sorted(area.touched, alive) if refining else np.zeros(alive.size, dtype=bool)
            if not on_border.all():
                return False, None
            border.append(alive)
        if border:
            cells = np.concatenate(border)
            if self._leaves_claim([claim], np.zeros(cells.size, dtype=np.int64), cells, rad[None, :], vecs)[
                0
            ]:
                return False, None
        cells, _ = feasible_cells(self.grid, vecs, rad, self.tolerance)
        if cells.size == 0:
            return False, None
        blocking = cells[~in_sorted(area.full, cells)]
        if blocking.size == 0:
            return True, None
        if not refining:
            return False, None
        how = self._refine(claim, blocking, vecs, rad, "proven")
        return how.decided, (how if how.decided else None)

    def _area_contradictions(self, row: FloatArray, area: CellArea) -> list[dict[str, Any]]:
        """Landmarks whose disk alone excludes every cell of the claim, nearest-miss first."""
        ok = np.flatnonzero(np.isfinite(row))
        if area.touched.size == 0 or ok.size == 0:
            return []
        limit = self.speed.max_angle_rad(row[ok])
        ang = np.arccos(np.clip(self.grid.centers[area.touched] @ self.landmarks.vectors[ok].T, -1.0, 1.0))
        gap = np.min(ang - self.grid.cell_margin(area.touched)[:, None], axis=0)
        alone = np.flatnonzero(gap > limit)
        bound = self.speed.max_distance_km(row[ok])
        order = alone[np.argsort(-(gap[alone] * EARTH_RADIUS_KM - bound[alone]), kind="stable")]
        return [
            {
                "landmark": self.landmarks.ids[ok[j]],
                "rtt_ms": _r(row[ok[j]], 3),
                "bound_km": _r(bound[j]),
                "distance_km": _r(gap[j] * EARTH_RADIUS_KM),
            }
            for j in order[:EVIDENCE_LANDMARKS].tolist()
        ]
