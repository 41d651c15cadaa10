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
landmark (within the tolerance) contradicts the claim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fleetproof.geo.claims import Claim, geojson_polygons
from fleetproof.geo.countries import CountryTable
from fleetproof.geo.estimate import EstimateBatch, estimate_batch, log_likelihood
from fleetproof.geo.grid import Grid
from fleetproof.geo.landmarks import Landmark, LandmarkSet
from fleetproof.geo.model import DelayModel
from fleetproof.geo.raster import CellArea, rasterize
from fleetproof.geo.region import FeasibleRegion, feasible_cells
from fleetproof.geo.speed import SpeedModel
from fleetproof.geo.sphere import EARTH_RADIUS_KM, unit_vectors

__all__ = ["Estimate", "Result", "Verdict", "Verifier"]

Verdict = Literal["violation", "proven", "consistent", "unknown"]
FloatArray = npt.NDArray[np.float64]
CHUNK = 256
EVIDENCE_LANDMARKS = 5


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
    ) -> None:
        self.landmarks = LandmarkSet(landmarks)
        self.countries = countries
        self.grid = countries.grid if countries is not None else Grid(0.5)
        self.speed = speed or SpeedModel()
        self.model = model or DelayModel.default()
        self.offsets = self.model.offsets_for(self.landmarks.ids)
        self.tolerance = tolerance
        self.min_landmarks = max(min_landmarks, tolerance + 1)
        self._areas: dict[object, CellArea] = {}

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
            rtt, self.landmarks.vectors, self.offsets, self.model, self.speed, self.countries
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
        n_valid = np.sum(np.isfinite(block), axis=1)
        estimates = [self._estimate(est, i) for i in range(hi - lo)]
        rows_claims = [(i, c) for i in range(hi - lo) for c in by_row.get(lo + i, [])]
        points = [(i, c) for i, c in rows_claims if c.kind == "point"]
        point_results = dict(zip((id(c) for _, c in points), self._points(block, est, points), strict=True))
        out = []
        for i in range(hi - lo):
            claims = by_row.get(lo + i, [])
            if not claims:
                out.append(
                    Result(None, targets[lo + i], None, False, estimates[i], self._base(block[i], n_valid[i]))
                )
            for c in claims:
                if n_valid[i] < self.min_landmarks:
                    ev = self._base(block[i], n_valid[i])
                    ev["reason"] = f"{int(n_valid[i])} valid RTTs, {self.min_landmarks} needed"
                    out.append(Result(c.id, c.target, "unknown", False, estimates[i], ev))
                elif c.kind == "point":
                    verdict, suspicious, ev = point_results[id(c)]
                    ev = {**self._base(block[i], n_valid[i]), **ev}
                    out.append(Result(c.id, c.target, verdict, suspicious, estimates[i], ev))
                else:
                    verdict, suspicious, ev = self._area_claim(block[i], est, i, c)
                    ev = {**self._base(block[i], n_valid[i]), **ev}
                    out.append(Result(c.id, c.target, verdict, suspicious, estimates[i], ev))
        return out

    def _estimate(self, est: EstimateBatch, i: int) -> Estimate:
        if not np.isfinite(est.lat[i]):
            return Estimate(None, None, None, None, None)
        k = int(est.country[i])
        code = self.countries.codes[k] if (self.countries is not None and k >= 0) else None
        return Estimate(
            _r(est.lat[i], 4), _r(est.lon[i], 4), _r(est.radius_km[i]), code, _r(est.country_p[i], 3)
        )

    def _base(self, row: FloatArray, n_valid: int) -> dict[str, Any]:
        ok = np.flatnonzero(np.isfinite(row))
        tight = ok[np.argsort(row[ok], kind="stable")[:3]]
        bounds = self.speed.max_distance_km(row[tight])
        return {
            "landmarks_used": int(n_valid),
            "tolerance": self.tolerance,
            "tightest": [
                {"landmark": self.landmarks.ids[j], "rtt_ms": _r(row[j], 3), "bound_km": _r(b)}
                for j, b in zip(tight.tolist(), bounds.tolist(), strict=True)
            ],
        }

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
    def _area(self, claim: Claim) -> CellArea:
        if claim.kind == "countries":
            key: object = ("countries", tuple(sorted(claim.countries)))
            if key not in self._areas:
                if self.countries is None:
                    raise ValueError("country claims need a CountryTable")
                self._areas[key] = self.countries.area(claim.countries)
        else:
            key = ("region", id(claim.region))
            if key not in self._areas:
                assert claim.region is not None
                self._areas[key] = rasterize(geojson_polygons(claim.region), self.grid)
        return self._areas[key]

    def _area_claim(
        self, row: FloatArray, est: EstimateBatch, i: int, claim: Claim
    ) -> tuple[Verdict, bool, dict[str, Any]]:
        area = self._area(claim)
        region = self._region(row)
        inside = np.isin(region.cells, area.touched, assume_unique=True)
        desc: dict[str, Any] = {"kind": claim.kind}
        if claim.kind == "countries":
            desc["countries"] = list(claim.countries)
        else:
            desc["region"] = claim.region_name
        ev: dict[str, Any] = {
            "claim": desc,
            "region_cells": int(region.cells.size),
            "region_area_km2": round(region.area_km2()),
            "cells_in_claim": int(inside.sum()),
        }
        if not inside.any():
            ev["contradicting"] = self._area_contradictions(row, area)
            ev["contradicting_count"] = len(ev["contradicting"])
            return "violation", True, ev
        proven = bool(np.isin(region.cells, area.full, assume_unique=True).all())
        t = est.terms
        cand = region.cells[inside]
        ll = log_likelihood(self.grid.centers[cand][None, :, :], t.rows(slice(i, i + 1)), self.model)[0]
        lr = max(0.0, 2.0 * float(est.max_ll[i] - np.max(ll))) if np.isfinite(est.max_ll[i]) else 0.0
        ev["likelihood_ratio"] = round(lr, 2)
        ev["suspicious_threshold"] = round(self.model.lr_threshold, 2)
        single = region.exclusions[inside].min() > 0
        return ("proven" if proven else "consistent"), bool(single or lr > self.model.lr_threshold), ev

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
