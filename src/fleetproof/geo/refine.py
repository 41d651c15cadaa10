"""Refinement at the edges of the grid: decide on sub-cells what whole cells leave open.

Verdicts are taken on 0.5° cells (:mod:`fleetproof.geo.region`, :mod:`fleetproof.geo.raster`),
so a claim whose only overlap with the feasible region is a few cells that are partly
inside the disks *and* partly inside the claim stays ``consistent`` even when the exact
geometry settles it. This module looks inside exactly those cells: each is cut into
``split × split`` sub-cells, level after level (``depth`` levels), and every sub-cell is
tested on its own:

- against the disks, with the sub-cell's own margin (the largest angle from its centre to a
  corner), so a sub-cell is dropped only when each of ``tolerance + 1`` disks excludes all of it;
- against the claimed polygons (straight edges in longitude/latitude, even–odd rule, as in
  :mod:`fleetproof.geo.raster`): a sub-cell *meets* the boundary unless every edge is
  separated from it (bounding boxes, then the edge's line with the four corners on one side);
  one that meets no edge is wholly inside or wholly outside, as its centre is.

Both tests can only keep too much, never drop a true place, so the answers stay sound.
A search also stops early at a *witness*: a sub-cell centre that is itself inside the
tolerant region (exact point test) and inside the claim (for ``violation``) or outside it
(for ``proven``) settles that the verdict cannot be reached. Work is bounded by ``budget``
live sub-cells per level; beyond it the search gives up and the grid's answer stands.

Holes (enclaves) need nothing special: their rings are edges like any other, so a place in a
hole is outside. The lon/lat plane is taken as written, which leaves two cases sound but open:
a cut at ±180° or an edge along a pole is a border like any other, so the sub-cells along it are
never full (a region across the cut, or around a pole inside a claim reaching it, stays
``consistent``); and a small disk around a pole meets every column of the polar row, so a claim
bounded all around near the pole has more border sub-cells there than ``budget`` (not a
``violation``). A region's ring that crosses ±180° without a cut (an edge from 179° to −179°)
goes the long way round, as GeoJSON reads it; one written past 180° is read modulo 360°
(:func:`fleetproof.geo.raster.polygon_edges`); countries' rings are cut at ±180°
(:func:`fleetproof.geo.raster.cut_at_antimeridian`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from fleetproof.geo.grid import Grid, corner_margin, csr_group, expand_ranges, in_sorted
from fleetproof.geo.region import count_outside
from fleetproof.geo.sphere import unit_vectors

__all__ = ["DEFAULT_DEPTH", "Boundary", "Refined", "Shape", "refine"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Levels of subdivision by default: 0.5° → 0.125° → 0.03125° → 0.0078° (under 1 km).
DEFAULT_DEPTH = 3
#: Sub-cells per side at each level.
SPLIT = 4
#: Most live sub-cells carried from one level to the next; beyond, the search gives up.
BUDGET = 2048
#: Slack (degrees) for the polygon tests: an edge this close to a sub-cell counts as meeting it.
_EPS_DEG = 1e-9


def _clip_floor(x: FloatArray, step: float, n: int) -> IntArray:
    return np.asarray(np.clip(np.floor(x / step), 0, n - 1), dtype=np.int64)


class Boundary(Protocol):
    """What refinement asks of a claimed area: :class:`Shape` (polygons), or a country with its waters."""

    def classify(
        self, cell: IntArray, x0: FloatArray, y0: FloatArray, size: float
    ) -> tuple[BoolArray, BoolArray]: ...

    def inside(self, lon: FloatArray, lat: FloatArray) -> BoolArray: ...


@dataclass(frozen=True)
class Shape:
    """One claimed area's boundary as straight edges (lon/lat degrees), indexed for sub-cell tests.

    Edges are filed by the grid rows their latitude range spans, for the even–odd ray cast
    of a point (a ray due east meets only edges of its row), and — built on first use, as
    most shapes only ever answer point tests — by the grid cells their (slightly widened)
    bounding box meets, for the question "does an edge meet this sub-cell".
    """

    grid: Grid
    edges: FloatArray
    row_ptr: IntArray
    row_edges: IntArray

    @staticmethod
    def build(grid: Grid, edges: FloatArray) -> Shape:
        """Index ``edges`` (E, 4) as rows ``x1, y1, x2, y2`` on ``grid``."""
        edges = np.asarray(edges, dtype=np.float64).reshape(-1, 4)
        res, n_rows = grid.resolution_deg, grid.n_rows
        y1, y2 = edges[:, 1], edges[:, 3]
        # Rows for the ray cast: the point's row is computed the same way, and floor is monotone.
        slanted = np.flatnonzero(y1 != y2)
        pr0 = _clip_floor(np.minimum(y1, y2)[slanted] + 90.0, res, n_rows)
        pr1 = _clip_floor(np.maximum(y1, y2)[slanted] + 90.0, res, n_rows)
        which, row = expand_ranges(pr0, pr1 - pr0 + 1)
        rows, ptr, row_edges = csr_group(row, slanted[which])
        row_ptr = np.zeros(n_rows + 1, dtype=np.int64)
        row_ptr[rows + 1] = np.diff(ptr)
        return Shape(grid, edges, np.cumsum(row_ptr), row_edges)

    @cached_property
    def _by_cell(self) -> tuple[IntArray, IntArray, IntArray]:
        """(sorted cells, offsets, edges): the edges whose widened bounding box meets each cell."""
        grid, res = self.grid, self.grid.resolution_deg
        x1, y1, x2, y2 = self.edges.T
        c0 = _clip_floor(np.minimum(x1, x2) - _EPS_DEG + 180.0, res, grid.n_cols)
        c1 = _clip_floor(np.maximum(x1, x2) + _EPS_DEG + 180.0, res, grid.n_cols)
        r0 = _clip_floor(np.minimum(y1, y2) - _EPS_DEG + 90.0, res, grid.n_rows)
        r1 = _clip_floor(np.maximum(y1, y2) + _EPS_DEG + 90.0, res, grid.n_rows)
        nc, nr = c1 - c0 + 1, r1 - r0 + 1
        edge, k = expand_ranges(np.zeros(self.edges.shape[0], dtype=np.int64), nc * nr)
        dr, dc = np.divmod(k, nc[edge])
        return csr_group((r0[edge] + dr) * grid.n_cols + c0[edge] + dc, edge)

    def inside(self, lon: FloatArray, lat: FloatArray) -> BoolArray:
        """Whether each point is inside (even–odd, a ray due east; a vertex counts once).

        Only used where an error is harmless: for witnesses, and for sub-cell centres that
        no edge comes near (there the nearest crossing is half a sub-cell away).
        """
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        if lon.size == 0:
            return np.zeros(0, dtype=bool)
        ys, yid = np.unique(lat, return_inverse=True)
        yid = yid.ravel()
        row = np.clip(np.floor((ys + 90.0) / self.grid.resolution_deg), 0, self.grid.n_rows - 1).astype(
            np.int64
        )
        owner, pos = expand_ranges(self.row_ptr[row], self.row_ptr[row + 1] - self.row_ptr[row])
        x1, y1, x2, y2 = self.edges[self.row_edges[pos]].T
        y = ys[owner]
        cross = (y1 > y) != (y2 > y)
        owner, y, x1, y1, x2, y2 = owner[cross], y[cross], x1[cross], y1[cross], x2[cross], y2[cross]
        xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        # Crossings of each distinct latitude; a point counts those east of it.
        start = np.searchsorted(owner, np.arange(ys.size), side="left")
        count = np.searchsorted(owner, np.arange(ys.size), side="right") - start
        who, k = expand_ranges(start[yid], count[yid])
        east = np.bincount(who[xc[k] > lon[who]], minlength=lon.size)
        return np.asarray(east % 2 == 1)

    def meets(self, cell: IntArray, x0: FloatArray, y0: FloatArray, size: float) -> BoolArray:
        """Whether an edge may meet each rectangle ``[x0, x0 + size] × [y0, y0 + size]`` in grid ``cell``."""
        cell_keys, cell_ptr, cell_edges = self._by_cell
        if cell_keys.size == 0:
            return np.zeros(cell.size, dtype=bool)
        pos = np.minimum(np.searchsorted(cell_keys, cell), cell_keys.size - 1)
        filed = cell_keys[pos] == cell
        start = np.where(filed, cell_ptr[pos], 0)
        rect, k = expand_ranges(start, np.where(filed, cell_ptr[pos + 1] - start, 0))
        ex1, ey1, ex2, ey2 = self.edges[cell_edges[k]].T
        rx0, ry0 = x0[rect] - _EPS_DEG, y0[rect] - _EPS_DEG
        rx1, ry1 = x0[rect] + size + _EPS_DEG, y0[rect] + size + _EPS_DEG
        boxes = (
            (np.minimum(ex1, ex2) <= rx1)
            & (np.maximum(ex1, ex2) >= rx0)
            & (np.minimum(ey1, ey2) <= ry1)
            & (np.maximum(ey1, ey2) >= ry0)
        )
        dx, dy = ex2 - ex1, ey2 - ey1
        tol = _EPS_DEG * (np.abs(dx) + np.abs(dy))
        side = [dx * (cy - ey1) - dy * (cx - ex1) for cx in (rx0, rx1) for cy in (ry0, ry1)]
        above = np.all([s > tol for s in side], axis=0)
        below = np.all([s < -tol for s in side], axis=0)
        hit = boxes & ~above & ~below
        return np.asarray(np.bincount(rect[hit], minlength=cell.size) > 0)

    def classify(
        self, cell: IntArray, x0: FloatArray, y0: FloatArray, size: float
    ) -> tuple[BoolArray, BoolArray]:
        """(touched, full) per rectangle: may share a point with the area / provably wholly inside it.

        A rectangle that no edge meets is wholly inside or wholly outside, as its centre is.
        """
        meets = self.meets(cell, x0, y0, size)
        inside = np.zeros(cell.size, dtype=bool)
        clear = np.flatnonzero(~meets)
        inside[clear] = self.inside(x0[clear] + size / 2, y0[clear] + size / 2)
        return meets | inside, inside


@dataclass(frozen=True)
class Refined:
    """What refinement found: ``decided`` (the verdict holds), the grid cells it looked into, levels used.

    ``witness``: it found a place that rules the verdict out (not just ran out of depth or budget);
    ``at``: that place, (lat, lon) in degrees — for ``proven``, a place of the region outside the claim.
    """

    decided: bool
    cells: int
    depth: int
    witness: bool = False
    at: tuple[float, float] | None = None

    def evidence(self) -> dict[str, int]:
        return {"cells": self.cells, "depth": self.depth}


def _classify(
    shapes: Callable[[], Sequence[Boundary] | None],
    parent_full: BoolArray,
    parent_touched: BoolArray,
    cell: IntArray,
    x0: FloatArray,
    y0: FloatArray,
    size: float,
) -> tuple[BoolArray, BoolArray]:
    """(touched, full) per sub-cell: may share a point with the claim / provably wholly inside it.

    A sub-cell of a full grid cell is full, one of an untouched cell untouched; only those of
    border cells are tested against the polygons (without polygons they stay touched, not full).
    """
    touched, full = parent_touched.copy(), parent_full.copy()
    todo = np.flatnonzero(parent_touched & ~parent_full)
    parts = shapes() if todo.size else None
    if parts is None:
        return touched, full
    touched[todo] = False
    for shape in parts:  # a union: touched by any part, wholly inside one part
        part_touched, part_full = shape.classify(cell[todo], x0[todo], y0[todo], size)
        touched[todo] |= part_touched
        full[todo] |= part_full
    return touched, full


def _point_side(
    shapes: Callable[[], Sequence[Boundary] | None],
    parent_full: BoolArray,
    parent_touched: BoolArray,
    lon: FloatArray,
    lat: FloatArray,
    goal: Literal["violation", "proven"],
) -> int:
    """The index of a witness point inside the claim (``violation``) or outside it (``proven``), or −1.

    A point in a full grid cell is inside, one in an untouched cell outside; the polygons
    are consulted (and built) only for points in border cells.
    """
    settled = np.flatnonzero(parent_full if goal == "violation" else ~parent_touched)
    if settled.size:
        return int(settled[0])
    edge = np.flatnonzero(parent_touched & ~parent_full)
    parts = shapes() if edge.size else None
    if parts is None:
        return -1
    inside = np.zeros(edge.size, dtype=bool)
    for shape in parts:
        inside |= shape.inside(lon[edge], lat[edge])
    hit = np.flatnonzero(inside if goal == "violation" else ~inside)
    return int(edge[hit[0]]) if hit.size else -1


def refine(
    grid: Grid,
    cells: IntArray,
    full: IntArray,
    touched: IntArray,
    shapes: Callable[[], Sequence[Boundary] | None],
    vecs: FloatArray,
    rad: FloatArray,
    tolerance: int,
    goal: Literal["violation", "proven"],
    depth: int = DEFAULT_DEPTH,
    budget: int = BUDGET,
) -> Refined:
    """Decide on sub-cells of ``cells`` whether the claim is a ``violation`` or ``proven``.

    For ``violation``, ``cells`` are the claim's touched cells that the disks leave feasible;
    the claim is a violation when no sub-cell both meets the claim and survives the disks.
    For ``proven``, ``cells`` are the region's cells that are not full cells of the claim;
    it is proven when every sub-cell is either excluded by the disks or wholly inside the
    claim. ``full`` and ``touched`` are the claim's sorted cell sets; ``shapes`` gives its
    boundary when first needed (``None``: only the disks are refined). ``vecs``/``rad`` are
    the disks, ``inf`` radius for none.
    """
    cells = np.asarray(cells, dtype=np.int64)
    n_cells = int(cells.size)
    if depth <= 0 or n_cells == 0 or n_cells > budget:
        return Refined(n_cells == 0, n_cells, 0)
    limit = np.where(rad < np.pi, np.cos(np.minimum(rad, np.pi)), -np.inf)
    res = grid.resolution_deg
    rows, cols = np.divmod(cells, grid.n_cols)
    x0, y0 = -180.0 + cols * res, -90.0 + rows * res
    parent, size = cells, res
    p_full, p_touched = in_sorted(full, cells), in_sorted(touched, cells)
    for level in range(depth + 1):
        if level > 0:
            k = SPLIT * SPLIT
            parent, p_full, p_touched = np.repeat(parent, k), np.repeat(p_full, k), np.repeat(p_touched, k)
            x0, y0 = np.repeat(x0, k), np.repeat(y0, k)
            size /= SPLIT
            j, i = np.divmod(np.tile(np.arange(k), x0.size // k), SPLIT)
            x0, y0 = x0 + i * size, y0 + j * size
            lat_c = y0 + size / 2
            centres = unit_vectors(lat_c, x0 + size / 2).reshape(-1, 3)
            margin = corner_margin(y0, size)
            # Only sub-cells the disks leave are classified against the claim: the boundary tests
            # are the costly part, and a sub-cell the disks exclude is settled either way.
            f = np.flatnonzero(count_outside(centres, margin, vecs, rad) <= tolerance)
            s_touched, s_full = _classify(shapes, p_full[f], p_touched[f], parent[f], x0[f], y0[f], size)
            live = s_touched if goal == "violation" else ~s_full
            if not live.any():
                return Refined(True, n_cells, level)
            keep = f[live]
            parent, x0, y0, p_full, p_touched = (
                parent[keep],
                x0[keep],
                y0[keep],
                s_full[live],
                s_touched[live],
            )
        # A witness among the live (sub-)cells settles it the other way.
        lon_c, lat_c = x0 + size / 2, y0 + size / 2
        point = unit_vectors(lat_c, lon_c).reshape(-1, 3)
        exact = ((point @ vecs.T) < limit[None, :]).sum(axis=1) <= tolerance
        w = np.flatnonzero(exact)
        if w.size:
            k = _point_side(shapes, p_full[w], p_touched[w], lon_c[w], lat_c[w], goal)
            if k >= 0:
                at = (float(lat_c[w[k]]), float(lon_c[w[k]]))
                return Refined(False, n_cells, level, witness=True, at=at)
        if x0.size > budget:
            return Refined(False, n_cells, level)
    return Refined(False, n_cells, depth)
