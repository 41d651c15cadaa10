"""Verdicts on country and region claims: the batched path, the reference path, and the ``proven`` test.

An area claim is a ``violation`` when none of its cells (nor, refined, any place of its border
cells) lies in the tolerant region, ``proven`` when the whole region lies inside it
(:meth:`AreaVerdicts._inside`), ``consistent`` otherwise, with ``blocked_by`` saying what of the
region lies outside (:mod:`fleetproof.geo.blocking`).

:meth:`AreaVerdicts.one` is the reference: it decides one claim on its own cells, so its cost grows
with the claimed area, not the globe. :meth:`AreaVerdicts.decide` reaches the same results for a
whole chunk: the common honest case (the estimate is a place of the claim in the tolerant region)
is decided for every claim with a few array operations, and only the rest go through the reference
(``tests/geo/test_batched_areas.py`` compares the two on random fleets).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fleetproof.geo.blocking import Territories, blocked_by, coarse_many
from fleetproof.geo.claim_areas import ClaimAreas
from fleetproof.geo.claims import Claim
from fleetproof.geo.estimate import EstimateBatch, log_likelihood
from fleetproof.geo.grid import in_sorted
from fleetproof.geo.raster import CellArea
from fleetproof.geo.refine import Refined, refine
from fleetproof.geo.region import count_outside, feasible_cells, surviving, surviving_many
from fleetproof.geo.results import EVIDENCE_LANDMARKS, Engine, Outcome, contradiction, describe
from fleetproof.geo.sphere import EARTH_RADIUS_KM, lat_lon, unit_vectors

__all__ = ["REFINE_PROVEN_MAX_RAD", "AreaVerdicts"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Cells probed before computing a whole region for a ``proven`` test; cells sampled for a likelihood.
PROBE_SIDE = 8
#: Probe cells per claim tested first when many claims are probed together.
PROBE_FIRST = 6
MAX_LL_CELLS = 2048
#: Sub-cells per side whose centres may stand in for an estimate just outside its claim.
SUB_SIDE = 4
#: ``proven`` is refined only for regions whose tightest disk is at most this wide (radians, 3°):
#: a wider region that reaches into the claim's border cells nearly always leaves the claim, and
#: computing it whole to find out would cost more than refinement saves.
REFINE_PROVEN_MAX_RAD = float(np.radians(3.0))
#: Claims whose ``blocked_by`` is found together (bounds the arrays of :func:`coarse_many`).
COARSE_BATCH = 64


def _cos_limits(rad: FloatArray) -> FloatArray:
    """Cosines of disk radii: a point is outside a disk when its dot with the centre is below.

    A disk of radius ``π`` or more (or ``inf``: no measurement) excludes nothing (``-inf``).
    """
    return np.where(rad < np.pi, np.cos(np.minimum(rad, np.pi)), -np.inf)


class AreaVerdicts:
    """Decides the country and region claims of a :class:`~fleetproof.geo.verdict.Verifier` (its ``engine``).

    Holds the claimed areas (:class:`~fleetproof.geo.claim_areas.ClaimAreas`) and the territories
    ``blocked_by`` names; the engine's settings are read when a claim is decided.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.areas = ClaimAreas(engine.grid, engine.countries)
        self.territory = Territories(engine.countries)

    def decide(
        self, block: FloatArray, est: EstimateBatch, items: Sequence[tuple[int, Claim]], batched: bool = True
    ) -> list[Outcome]:
        """Country and region claims of a chunk: :meth:`one` for each, the common case batched.

        Claims whose estimate is a witness (see :meth:`one`) are decided together with
        a few numpy calls for the whole chunk; the others, and any claim whose sparse probe
        finds no feasible cell outside the area, take :meth:`one` itself. The results
        are the same (``tests/geo/test_batched_areas.py`` compares the two on random fleets).
        """
        explain = self.engine.explain
        if not items or not batched:
            return [self.one(block[i], est, i, c, explain=explain) for i, c in items]
        rows = np.array([i for i, _ in items], dtype=np.int64)
        ids, touched, full = self.areas.ids([c for _, c in items])
        n = self.engine.grid.n_cells
        r = block[rows]
        ok = np.isfinite(r)
        rad = np.where(ok, self.engine.speed.max_angle_rad(np.where(ok, r, 0.0)), np.inf)
        lat, lon = est.lat[rows], est.lon[rows]
        has = np.isfinite(lat)
        cell = self.engine.grid.cell_of(np.where(has, lat, 0.0), np.where(has, lon, 0.0))
        g, vectors = self.engine.grid, self.engine.landmarks.vectors
        excluded = count_outside(g.centers[cell], g.cell_margin(cell), vectors, rad) > 0
        wit = np.flatnonzero(has & in_sorted(touched, ids * n + cell) & ~excluded)
        if self.engine.refine_depth > 0 and wit.size:
            exact = self._exact_witnesses(
                [items[k][1] for k in wit.tolist()],
                lat[wit],
                lon[wit],
                rad[wit],
                in_sorted(full, ids[wit] * n + cell[wit]),
            )
            wit = wit[exact]
        vec = unit_vectors(lat[wit], lon[wit]).reshape(-1, 3)
        ll = log_likelihood(vec[:, None, :], est.terms.rows(rows[wit]), self.engine.model)[:, 0]
        wfull = in_sorted(full, ids[wit] * n + g.cell_of(*lat_lon(vec)))
        proven = np.zeros(wit.size, dtype=bool)
        # On the grid a feasible cell that is not full rules ``proven`` out, so a claim whose estimate
        # sits in a border cell is tried only where refinement can look inside that cell.
        tight = np.min(rad[wit], axis=1, initial=np.inf) <= REFINE_PROVEN_MAX_RAD
        need = np.flatnonzero(wfull | ((self.engine.refine_depth > 0) & tight))
        proven[need], refined = self._inside_many(
            rad[wit[need]], ids[wit[need]], touched, full, [items[k] for k in wit[need]]
        )
        max_ll = est.max_ll[rows[wit]]
        lr = np.where(np.isfinite(max_ll), np.maximum(0.0, 2.0 * (max_ll - ll)), 0.0).tolist()
        out: list[Outcome | None] = [None] * len(items)
        threshold = round(self.engine.model.lr_threshold, 2)
        refined_at = {int(need[j]): r.evidence() for j, r in refined.items()}
        for m, k in enumerate(wit.tolist()):
            c = items[k][1]
            ev: dict[str, Any] = {
                "claim": describe(c),
                "claim_cells": int(self.areas.area(c)[0].touched.size),
                "feasible_claim_cells": "at least 1 (the estimate's cell)",
                "likelihood_ratio": round(lr[m], 2),
                "suspicious_threshold": threshold,
            }
            if m in refined_at:
                ev["refined"] = refined_at[m]
            flagged = bool(lr[m] > self.engine.model.lr_threshold) and not proven[m]
            out[k] = ("proven" if proven[m] else "consistent"), flagged, ev
        for k, (i, c) in enumerate(items):  # the rest, one at a time (blocked_by below, together)
            if out[k] is None:
                out[k] = self.one(block[i], est, i, c, explain=False)
        if not explain:
            return [o for o in out if o is not None]
        # Regions too large to refine say what blocks them all at once, by cells; the others one by one.
        large = np.min(rad, axis=1, initial=np.inf) > REFINE_PROVEN_MAX_RAD
        if self.engine.refine_depth <= 0:
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
            bound = self.engine.speed.max_distance_km(np.nanmin(r[many], axis=1))
            codes = [self.areas.codes(items[k][1]) for k in many.tolist()]
            found = coarse_many(
                self.engine.grid,
                self.engine.countries,
                full,
                touched,
                ids[many],
                codes,
                self.engine.landmarks.vectors,
                rad[many],
                self.engine.tolerance,
                bound,
            )
            for k, entries in zip(many.tolist(), found, strict=True):
                o = out[k]
                assert o is not None
                o[2]["blocked_by"] = entries
        return [o for o in out if o is not None]

    def one(self, row: FloatArray, est: EstimateBatch, i: int, claim: Claim, explain: bool = True) -> Outcome:
        """Test the claim's own cells (not the whole region): cost grows with the claimed area only.

        Shortcut for the common honest case: when the cell of the estimate belongs to
        the claim and no disk excludes it, it is a witness that the claim is not a
        violation, and the likelihood ratio is taken at the estimate (to cell resolution).
        ``explain``: add ``blocked_by`` to a ``consistent`` result (the batched path adds it itself).
        """
        area, blocked = self.areas.area(claim)
        ok = np.flatnonzero(np.isfinite(row))
        rad = self.engine.speed.max_angle_rad(row[ok])
        order = np.argsort(rad, kind="stable")
        vecs, rad = self.engine.landmarks.vectors[ok[order]], rad[order]
        ev: dict[str, Any] = {"claim": describe(claim), "claim_cells": int(area.touched.size)}
        terms = est.terms.rows(slice(i, i + 1))
        witness = self._witness(est, i, claim, vecs, rad)
        witness_full = False
        if witness is not None:
            ll = log_likelihood(witness[None, None, :], terms, self.engine.model)[0]
            ev["feasible_claim_cells"] = "at least 1 (the estimate's cell)"
            cell = int(self.engine.grid.cell_of(*lat_lon(witness)))
            k = int(np.searchsorted(area.full, cell))
            witness_full = k < area.full.size and int(area.full[k]) == cell
        else:
            cand = blocked.candidates(vecs, rad, self.engine.tolerance)
            cells, counts = surviving(self.engine.grid, cand, vecs, rad, self.engine.tolerance)
            ev["feasible_claim_cells"] = int(cells.size)
            # An overlap confined to border cells of the claim is worth a finer look; so is any
            # overlap of a region tight enough to refine, as the cell-margin test may keep full
            # cells of the claim that no place of the region reaches (narrow cells, high latitudes).
            if (
                cells.size
                and self.engine.refine_depth > 0
                and (self._refines_proven(rad) or not in_sorted(area.full, cells).any())
            ):
                how = self._refine(claim, cells, vecs, rad, "violation")
                if how.decided:  # every feasible claim cell is excluded on a finer look
                    ev["refined"] = how.evidence()
                    cells = cells[:0]
            if cells.size == 0:
                ev["contradicting"] = self._contradictions(row, area)
                ev["contradicting_count"] = len(ev["contradicting"])
                return "violation", True, ev
            sample = cells[:: max(1, cells.size // MAX_LL_CELLS)]
            ll = log_likelihood(self.engine.grid.centers[sample][None, :, :], terms, self.engine.model)[0]
            if counts.min() > 0:
                ev["single_contradiction"] = True
        # A feasible cell that is not full rules ``proven`` out at once, unless refinement may look
        # inside it (see :meth:`decide`).
        proven, shown = False, None
        if witness is None or witness_full or self._refines_proven(rad):
            proven, shown = self._inside(vecs, rad, claim)
        lr = max(0.0, 2.0 * float(est.max_ll[i] - np.max(ll))) if np.isfinite(est.max_ll[i]) else 0.0
        ev["likelihood_ratio"] = round(lr, 2)
        ev["suspicious_threshold"] = round(self.engine.model.lr_threshold, 2)
        if proven and shown is not None:
            ev["refined"] = shown.evidence()
        # A proof outranks the model: a claim shown true is never flagged as doubtful.
        suspicious = not proven and bool(
            ev.get("single_contradiction", False) or lr > self.engine.model.lr_threshold
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
        area, g = self.areas.area(claim)[0], self.engine.grid
        cell = g.cell_of(est.lat[i : i + 1], est.lon[i : i + 1])
        if not in_sorted(area.touched, cell)[0]:
            return None
        if count_outside(g.centers[cell], g.cell_margin(cell), vecs, rad)[0] > 0:
            return None
        lat, lon = est.lat[i : i + 1], est.lon[i : i + 1]
        if self.engine.refine_depth > 0:
            infull = in_sorted(area.full, cell)
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
        v = self.engine.landmarks.vectors if vecs is None else vecs
        limit = _cos_limits(rad)
        good = np.zeros(lat.size, dtype=bool)

        def feasible(owner: IntArray, plat: FloatArray, plon: FloatArray) -> npt.NDArray[np.bool_]:
            return self._feasible(unit_vectors(plat, plon).reshape(-1, 3), limit[owner], v)

        full_at = np.flatnonzero(infull)
        good[full_at] = feasible(full_at, lat[full_at], lon[full_at])
        edge = np.flatnonzero(~infull)
        if edge.size == 0:
            return good
        g = self.engine.grid
        cell = g.cell_of(lat[edge], lon[edge])
        row, col = np.divmod(cell, g.n_cols)
        dr, dc = (a.ravel() for a in np.meshgrid([-1, 0, 1], [-1, 0, 1], indexing="ij"))
        nrow, ncol = row[:, None] + dr, (col[:, None] + dc) % g.n_cols
        on_grid = (nrow >= 0) & (nrow < g.n_rows)
        owner = np.repeat(edge, dr.size)[on_grid.ravel()]
        near = (nrow * g.n_cols + ncol)[on_grid]
        ids, _, full_index = self.areas.ids(claims)
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
        sel, inside = self.areas.inside(claims, owner, ok, plat, plon)
        good[owner[sel[inside]]] = True
        return good

    def _inside(
        self, vecs: FloatArray, rad: FloatArray, claim: Claim, probed: bool = False
    ) -> tuple[bool, Refined | None]:
        """Whether the whole tolerant region lies inside the claim, and the refinement that showed it.

        On cells alone: every region cell is a full cell of the area. A sparse probe of the
        region's bounding caps usually finds a feasible cell outside the area at once (when
        refining, one whose centre is exactly a place of the region outside the claim, as any
        other cell may still be excluded on sub-cells); only when it does not is the whole
        region computed, and its cells that are not full refined (:mod:`fleetproof.geo.refine`).
        ``probed``: the same probes were already run (by :meth:`_inside_many`) and found nothing.
        """
        area = self.areas.area(claim)[0]
        refining = self._refines_proven(rad)
        if (area.touched if refining else area.full).size == 0:
            return False, None
        seeds = min(self.engine.tolerance + 1, rad.size)
        if seeds == 0 or rad[seeds - 1] >= np.pi:
            return False, None
        # One sparse probe per seed cap; any feasible cell outside the area settles it. When
        # refining, feasible cells outside the full ones settle it only if one's centre is a
        # witness: a cell the cell-margin test keeps may hold no place of the region at all
        # (at high latitudes a 0.5° cell is narrow and its margin generous), and refinement
        # may still exclude it, whether it is a border cell or wholly outside the claim.
        border = []
        for k in range(0 if probed else seeds):
            lat, lon = (float(x) for x in lat_lon(vecs[k]))
            side = 2 * float(np.degrees(rad[k])) / self.engine.grid.resolution_deg
            probe = self.engine.grid.cap_cells(lat, lon, float(rad[k]), stride=max(1, int(side / PROBE_SIDE)))
            alive = surviving(
                self.engine.grid, probe[~in_sorted(area.full, probe)], vecs, rad, self.engine.tolerance
            )[0]
            if not refining and alive.size:
                return False, None
            # A cell the claim does not touch lies wholly outside it: its centre is a witness
            # when it is exactly in the region. Border cells need the claim's boundary.
            on_border = in_sorted(area.touched, alive)
            out = alive[~on_border]
            limits = np.broadcast_to(_cos_limits(rad), (out.size, rad.size))
            if out.size and self._feasible(self.engine.grid.centers[out], limits, vecs).any():
                return False, None
            border.append(alive[on_border])
        if border:
            cells = np.concatenate(border)
            if self._leaves_claim([claim], np.zeros(cells.size, dtype=np.int64), cells, rad[None, :], vecs)[
                0
            ]:
                return False, None
        cells, _ = feasible_cells(self.engine.grid, vecs, rad, self.engine.tolerance)
        if cells.size == 0:
            return False, None
        blocking = cells[~in_sorted(area.full, cells)]
        if blocking.size == 0:
            return True, None
        if not refining:
            return False, None
        how = self._refine(claim, blocking, vecs, rad, "proven")
        return how.decided, (how if how.decided else None)

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
        :meth:`~fleetproof.geo.claim_areas.ClaimAreas.ids`); a claim whose probes do not settle it
        gets the rest of :meth:`_inside`.
        Also returns, by index, the claims that refinement proved.
        """
        result = np.zeros(rad.shape[0], dtype=bool)
        refined: dict[int, Refined] = {}
        if rad.shape[0] == 0:
            return result, refined
        order = np.argsort(rad, axis=1, kind="stable")
        rs = np.take_along_axis(rad, order, axis=1)
        refining = (self.engine.refine_depth > 0) & (rs[:, 0] <= REFINE_PROVEN_MAX_RAD)
        seeds = np.minimum(self.engine.tolerance + 1, np.isfinite(rad).sum(axis=1))
        probe = (seeds > 0) & (rs[np.arange(rs.shape[0]), np.maximum(seeds - 1, 0)] < np.pi)
        settled = np.zeros(rad.shape[0], dtype=bool)
        border_owner, border_cells = [], []
        for k in range(self.engine.tolerance + 1):  # one sparse probe per seed cap, as in _inside
            claim_of = np.flatnonzero(probe & ~settled & (seeds > k))
            if claim_of.size == 0:
                break
            seed_rad = rs[claim_of, k]
            lat, lon = lat_lon(self.engine.landmarks.vectors[order[claim_of, k]])
            side = 2 * np.degrees(seed_rad) / self.engine.grid.resolution_deg
            stride = np.maximum(1, (side / PROBE_SIDE).astype(np.int64))
            cells, seed_of = self.engine.grid.cap_cells_many(lat, lon, seed_rad, stride)
            owner = claim_of[seed_of]
            key = ids[owner] * self.engine.grid.n_cells + cells
            outside = ~in_sorted(full, key)
            cells, owner, key = cells[outside], owner[outside], key[outside]
            clear = ~refining[owner]
            untouched = ~in_sorted(touched, key)
            limits = _cos_limits(rad)
            # Most probe cells are feasible: a few per claim usually settle it, the rest only if not.
            count = np.bincount(owner, minlength=rad.shape[0])
            rank = np.arange(owner.size) - (np.cumsum(count) - count)[owner]
            first = rank % np.maximum(count // PROBE_FIRST, 1)[owner] == 0
            for part in (first, ~first):
                part &= ~settled[owner]
                keep = surviving_many(
                    self.engine.grid,
                    cells[part],
                    owner[part],
                    self.engine.landmarks.vectors,
                    order,
                    rs,
                    self.engine.tolerance,
                )
                alive = np.flatnonzero(part)[keep]
                settled[owner[alive[clear[alive]]]] = True  # a feasible cell outside the area: not proven
                # Refining, a cell wholly outside the claim settles it when its centre is exactly in
                # the region (as in _inside); a border cell's centre also needs the claim's boundary.
                rest = alive[~clear[alive]]
                out, on = rest[untouched[rest]], rest[~untouched[rest]]
                exact = self._feasible(
                    self.engine.grid.centers[cells[out]], limits[owner[out]], self.engine.landmarks.vectors
                )
                settled[owner[out[exact]]] = True
                border_owner.append(owner[on])
                border_cells.append(cells[on])
        if border_owner:
            b_owner, b_cells = np.concatenate(border_owner), np.concatenate(border_cells)
            live = ~settled[b_owner]
            claims = [c for _, c in items]
            settled |= self._leaves_claim(
                claims, b_owner[live], b_cells[live], rad, self.engine.landmarks.vectors
            )
        for m in np.flatnonzero(probe & ~settled).tolist():
            valid = int(np.isfinite(rs[m]).sum())
            vecs = self.engine.landmarks.vectors[order[m, :valid]]
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
        lat, lon = self.engine.grid.center_latlon(cells)
        ok = np.flatnonzero(self._feasible(self.engine.grid.centers[cells], _cos_limits(rad)[owner], vecs))
        sel, inside = self.areas.inside(claims, owner, ok, lat, lon)
        found[owner[sel[~inside]]] = True
        return found

    def _feasible(self, q: FloatArray, limit: FloatArray, vecs: FloatArray) -> npt.NDArray[np.bool_]:
        """Which points ``q`` (unit vectors) lie, exactly, in the tolerant region of their disks.

        ``limit`` holds, per point, the cosines of its disks' radii for ``vecs`` (:func:`_cos_limits`).
        """
        return np.asarray(((q @ vecs.T) < limit).sum(axis=1) <= self.engine.tolerance)

    def _refine(
        self,
        claim: Claim,
        cells: IntArray,
        vecs: FloatArray,
        rad: FloatArray,
        goal: Literal["violation", "proven"],
        depth: int | None = None,
    ) -> Refined:
        area = self.areas.area(claim)[0]
        return refine(
            self.engine.grid,
            cells,
            area.full,
            area.touched,
            lambda: self.areas.shape(claim),
            vecs,
            rad,
            self.engine.tolerance,
            goal,
            self.engine.refine_depth if depth is None else depth,
        )

    def _refines_proven(self, rad: FloatArray) -> bool:
        """Whether refinement may settle ``proven`` for a region whose disks have radii ``rad`` (sorted)."""
        return self.engine.refine_depth > 0 and rad.size > 0 and bool(rad[0] <= REFINE_PROVEN_MAX_RAD)

    def _blocked_by(self, claim: Claim, row: FloatArray) -> list[dict[str, Any]]:
        """Evidence for a ``consistent`` area claim: what of the region lies outside it (geo/blocking.py).

        ``row`` is the target's RTTs in landmark order. A region too large to refine is judged by
        cells (:func:`~fleetproof.geo.blocking.coarse_many`, as :meth:`decide` does for many).
        """
        area = self.areas.area(claim)[0]
        measured = np.flatnonzero(np.isfinite(row))
        rad_all = np.full(row.size, np.inf)
        rad_all[measured] = self.engine.speed.max_angle_rad(row[measured])
        by_size = measured[np.argsort(rad_all[measured], kind="stable")]
        tightest_km = (
            float(self.engine.speed.max_distance_km(row[by_size[0]])) if by_size.size else float("inf")
        )
        codes = self.areas.codes(claim)
        if not self._refines_proven(rad_all[by_size]):
            one = np.zeros(1, dtype=np.int64)
            return coarse_many(
                self.engine.grid,
                self.engine.countries,
                area.full,
                area.touched,
                one,
                [codes],
                self.engine.landmarks.vectors,
                rad_all[None, :],
                self.engine.tolerance,
                np.array([tightest_km]),
            )[0]
        vecs, rad = self.engine.landmarks.vectors[by_size], rad_all[by_size]
        shape = self.areas.shape(claim)
        entries = blocked_by(
            self.engine.grid,
            area,
            shape,
            self.territory,
            vecs,
            rad,
            self.engine.tolerance,
            True,
            tightest_km,
            codes,
        )
        if all(e["kind"] == "landmarks" for e in entries):
            # The sample found no place outside the claim: too small a part of the region to
            # sample, such as a sliver across a border. Refinement's witness names one.
            place = self._outside_witness(claim, vecs, rad)
            if place is not None:
                entries.insert(0, place)
        return entries

    def _outside_witness(self, claim: Claim, vecs: FloatArray, rad: FloatArray) -> dict[str, Any] | None:
        """A place of the tolerant region outside the claim, found by refinement, and whose it is."""
        cells, _ = feasible_cells(self.engine.grid, vecs, rad, self.engine.tolerance)
        blocking = cells[~in_sorted(self.areas.area(claim)[0].full, cells)]
        if blocking.size == 0:
            return None
        at = self._refine(claim, blocking, vecs, rad, "proven").at
        if at is None:
            return None
        lat, lon = np.array([at[0]]), np.array([at[1]])
        who = self.territory(lat, lon, self.engine.grid.cell_of(lat, lon), True)[0]
        return {"kind": "place", "lat": round(at[0], 4), "lon": round(at[1], 4), "country": who}

    def _contradictions(self, row: FloatArray, area: CellArea) -> list[dict[str, Any]]:
        """Landmarks whose disk alone excludes every cell of the claim, nearest-miss first."""
        ok = np.flatnonzero(np.isfinite(row))
        if area.touched.size == 0 or ok.size == 0:
            return []
        limit = self.engine.speed.max_angle_rad(row[ok])
        ang = np.arccos(
            np.clip(self.engine.grid.centers[area.touched] @ self.engine.landmarks.vectors[ok].T, -1.0, 1.0)
        )
        gap = np.min(ang - self.engine.grid.cell_margin(area.touched)[:, None], axis=0)
        alone = np.flatnonzero(gap > limit)
        bound = self.engine.speed.max_distance_km(row[ok])
        order = alone[np.argsort(-(gap[alone] * EARTH_RADIUS_KM - bound[alone]), kind="stable")]
        return [
            contradiction(self.engine.landmarks.ids[ok[j]], row[ok[j]], bound[j], gap[j] * EARTH_RADIUS_KM)
            for j in order[:EVIDENCE_LANDMARKS].tolist()
        ]
