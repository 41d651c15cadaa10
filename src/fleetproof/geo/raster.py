"""Turn polygons (countries, operator regions) into grid cells, conservatively.

A claimed area becomes two cell sets: ``touched`` (every cell that shares a point
with the area, maybe more) and ``full`` (cells wholly inside it). Verdicts use
``touched`` to decide ``violation`` (the region misses every touched cell) and
``full`` to decide ``proven`` (every cell of the region is full), so rounding to
the grid can only weaken a verdict, never make a false one.

Polygons are in longitude/latitude degrees with straight edges in that plane
(as GeoJSON and Natural Earth draw them). A cell is ``full`` when no edge's
bounding box meets it and every one of ``subsample²`` sample centres inside it
is inside the polygon (even–odd rule, holes included). The sample count also
gives each touched cell its area fraction, used for country probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetproof.geo.grid import Grid

__all__ = ["CellArea", "cut_at_antimeridian", "disjoint_groups", "polygon_edges", "rasterize"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Ring = Sequence[Sequence[float]]
Polygon = Sequence[Ring]


@dataclass(frozen=True)
class CellArea:
    """An area on a grid: ``touched`` ⊇ area ⊇ ``full`` (sorted cells), ``fraction`` per touched cell."""

    touched: IntArray
    full: IntArray
    fraction: FloatArray

    @staticmethod
    def union(areas: Sequence[CellArea]) -> CellArea:
        """Union of areas; fractions add, capped at 1 (areas of different countries do not overlap)."""
        if not areas:
            empty = np.zeros(0, dtype=np.int64)
            return CellArea(empty, empty, np.zeros(0))
        cells = np.concatenate([a.touched for a in areas])
        fracs = np.concatenate([a.fraction for a in areas])
        touched, inv = np.unique(cells, return_inverse=True)
        fraction = np.minimum(np.bincount(inv, weights=fracs, minlength=touched.size), 1.0)
        full = np.unique(np.concatenate([a.full for a in areas]))
        return CellArea(touched, full, fraction)


def _lonlat(ring: Ring) -> FloatArray:
    """A ring's positions as (N, 2) lon/lat; GeoJSON lets a ring mix [lon, lat] and [lon, lat, alt]."""
    try:
        return np.asarray(ring, dtype=np.float64)[:, :2]
    except ValueError:  # positions of different lengths: not one array
        return np.asarray([pos[:2] for pos in ring], dtype=np.float64).reshape(-1, 2)


def polygon_edges(rings: Sequence[Ring]) -> FloatArray:
    """All edges of all rings as rows ``x1, y1, x2, y2`` (rings closed if needed).

    A ring that reaches past ±180° longitude (written as 177…181 rather than cut at the
    antimeridian) also gets a copy shifted by 360°: the grid ends at ±180°, and without
    the copy its part beyond would silently drop out of the claim. Each copy is a closed
    ring, so the even–odd rule is unchanged for rings less than 360° wide.
    """
    out = []
    for ring in rings:
        pts = _lonlat(ring)
        if pts.shape[0] < 3:
            continue
        if not np.array_equal(pts[0], pts[-1]):
            pts = np.vstack([pts, pts[:1]])
        edges = np.hstack([pts[:-1], pts[1:]])
        out.append(edges)
        for beyond, shift in ((pts[:, 0].max() > 180.0, -360.0), (pts[:, 0].min() < -180.0, 360.0)):
            if beyond:
                out.append(edges + np.array([shift, 0.0, shift, 0.0]))
    return np.vstack(out) if out else np.zeros((0, 4))


def cut_at_antimeridian(edges: FloatArray) -> FloatArray:
    """Edges that jump across ±180° (more than 180° of longitude) taken the short way round.

    world-atlas writes a ring that crosses the antimeridian (Russia's Chukotka, Fiji,
    Antarctica's coast) with an edge from about 180° to about −180°; read straight in
    lon/lat it spans the globe the long way, and the even–odd rule turns a band of
    latitudes inside out. Each such edge is split where it meets ±180°, and the pieces are
    closed along both meridians between consecutive crossings counted from the south,
    whose end is taken to be outside (true of every country: Antarctica's rings cut the
    pole off at −89.999°). An odd number of crossings is left as it is.
    """
    e = np.asarray(edges, dtype=np.float64).reshape(-1, 4)
    jump = np.abs(e[:, 2] - e[:, 0]) > 180.0
    if not jump.any() or int(jump.sum()) % 2:
        return e
    x1, y1, x2, y2 = e[jump].T
    side = np.where(x1 > 0.0, 180.0, -180.0)  # the meridian on the start's side
    span = x2 + 2.0 * side - x1  # along the edge with its end moved by ±360°; 0 when it runs on ±180°
    t = np.divide(side - x1, span, out=np.zeros_like(span), where=span != 0.0)
    y = y1 + t * (y2 - y1)
    pieces = np.vstack([np.column_stack([x1, y1, side, y]), np.column_stack([-side, y, x2, y2])])
    ys = np.sort(y)
    lo, hi = ys[0::2], ys[1::2]
    seams = [np.column_stack([np.full(lo.size, m), lo, np.full(lo.size, m), hi]) for m in (180.0, -180.0)]
    return np.vstack([e[~jump], pieces, *seams])


def disjoint_groups(polygons: Sequence[Polygon]) -> list[list[Polygon]]:
    """The polygons in groups (first fit, in order) within which no two bounding boxes overlap.

    The even–odd rule reads the common part of two overlapping polygons as outside, yet
    a claim made of several (the features of a region may well overlap) holds it. Within
    a group no two polygons can overlap, so even–odd there is their union, and an area is
    the union of its groups. Boxes that only touch share a group; longitudes are compared
    modulo 360° (see :func:`polygon_edges`).
    """
    boxes: list[list[tuple[float, float, float, float]]] = []
    groups: list[list[Polygon]] = []
    for poly in polygons:
        pts = [_lonlat(ring) for ring in poly if len(ring)]
        if not pts:
            continue
        every = np.vstack(pts)
        x0, y0 = every.min(axis=0)
        x1, y1 = every.max(axis=0)
        box = (float(x0), float(y0), float(x1), float(y1))
        for members, group in zip(boxes, groups, strict=True):
            if not any(_overlap(box, other) for other in members):
                members.append(box)
                group.append(poly)
                break
        else:
            boxes.append([box])
            groups.append([poly])
    return groups


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two lon/lat boxes share more than a border, longitudes modulo 360°."""
    if not (a[1] < b[3] and b[1] < a[3]):
        return False
    return any(a[0] < b[2] + k and b[0] + k < a[2] for k in (-360.0, 0.0, 360.0))


def _inside_fine(edges: FloatArray, fine: float, n_rows: int, n_cols: int) -> tuple[IntArray, IntArray]:
    """Fine cells whose centres are inside (even–odd): returns (rows, cols) of inside centres."""
    x1, y1, x2, y2 = edges.T
    keep = y1 != y2
    x1, y1, x2, y2 = x1[keep], y1[keep], x2[keep], y2[keep]
    ylo, yhi = np.minimum(y1, y2), np.maximum(y1, y2)
    r_start = np.ceil((ylo + 90.0) / fine - 0.5).astype(np.int64)
    r_end = np.ceil((yhi + 90.0) / fine - 0.5).astype(np.int64)
    counts = np.maximum(r_end - r_start, 0)
    if counts.sum() == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    edge_of = np.repeat(np.arange(counts.size), counts)
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = r_start[edge_of] + offs
    yc = -90.0 + (rows + 0.5) * fine
    e = edge_of
    xc = x1[e] + (yc - y1[e]) * (x2[e] - x1[e]) / (y2[e] - y1[e])
    order = np.lexsort((xc, rows))
    rows, xc = rows[order], xc[order]
    # Crossings pair up within each row: (1st, 2nd), (3rd, 4th), ... bound inside spans.
    starts = np.ceil((xc[0::2] + 180.0) / fine - 0.5).astype(np.int64)
    stops = np.ceil((xc[1::2] + 180.0) / fine - 0.5).astype(np.int64)
    span_rows = rows[0::2]
    lengths = np.maximum(stops - starts, 0)
    span_of = np.repeat(np.arange(lengths.size), lengths)
    col = starts[span_of] + np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    row = span_rows[span_of]
    ok = (row >= 0) & (row < n_rows) & (col >= 0) & (col < n_cols)
    return row[ok], col[ok]


def _edge_cells(edges: FloatArray, grid: Grid) -> IntArray:
    """Cells that meet each edge's bounding box (a superset of the cells the edge crosses)."""
    res = grid.resolution_deg
    xlo = np.minimum(edges[:, 0], edges[:, 2])
    xhi = np.maximum(edges[:, 0], edges[:, 2])
    # An edge wholly beyond ±180° (of a ring written past the antimeridian) meets no cell.
    on_grid = (xlo <= 180.0) & (xhi >= -180.0)
    edges, xlo, xhi = edges[on_grid], xlo[on_grid], xhi[on_grid]
    ylo = np.minimum(edges[:, 1], edges[:, 3])
    yhi = np.maximum(edges[:, 1], edges[:, 3])
    # Closed intervals: an edge lying exactly on a cell border marks the cells on both sides.
    c0 = np.clip(np.ceil((xlo + 180.0) / res) - 1, 0, grid.n_cols - 1).astype(np.int64)
    c1 = np.clip(np.floor((xhi + 180.0) / res), 0, grid.n_cols - 1).astype(np.int64)
    r0 = np.clip(np.ceil((ylo + 90.0) / res) - 1, 0, grid.n_rows - 1).astype(np.int64)
    r1 = np.clip(np.floor((yhi + 90.0) / res), 0, grid.n_rows - 1).astype(np.int64)
    nc, nr = c1 - c0 + 1, r1 - r0 + 1
    n = nc * nr
    box = np.repeat(np.arange(n.size), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    dr, dc = np.divmod(k, nc[box])
    return np.unique((r0[box] + dr) * grid.n_cols + c0[box] + dc)


def rasterize(
    polygons: Sequence[Sequence[Ring]], grid: Grid, subsample: int = 5, cut: bool = False
) -> CellArea:
    """Cells of a (multi)polygon given as a list of polygons, each a list of rings (outer first).

    Polygons that may overlap are rasterised apart (:func:`disjoint_groups`) and united.
    ``cut``: edges across ±180° go the short way (:func:`cut_at_antimeridian`; world-atlas).

    >>> g = Grid(1.0)
    >>> sq = [[[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]]]
    >>> a = rasterize([sq], g)
    >>> len(a.full), len(a.touched) >= 4, float(a.fraction.sum())
    (0, True, 4.0)
    >>> big = [[[0.0, 0.0], [5.0, 0.0], [5.0, 5.0], [0.0, 5.0]]]
    >>> len(rasterize([big], g).full)
    9
    """
    groups = disjoint_groups(polygons)
    if len(groups) > 1:
        return CellArea.union([rasterize(group, grid, subsample, cut) for group in groups])
    rings = [ring for poly in polygons for ring in poly]
    edges = polygon_edges(rings)
    if cut:
        edges = cut_at_antimeridian(edges)
    if edges.shape[0] == 0:
        return CellArea.union([])
    fine = grid.resolution_deg / subsample
    rows, cols = _inside_fine(edges, fine, grid.n_rows * subsample, grid.n_cols * subsample)
    inside_cells = (rows // subsample) * grid.n_cols + cols // subsample
    cells, counts = np.unique(inside_cells, return_counts=True)
    frac_all = counts / float(subsample * subsample)
    edge_cells = _edge_cells(edges, grid)
    full = cells[(counts == subsample * subsample) & ~np.isin(cells, edge_cells)]
    touched = np.union1d(edge_cells, cells)
    fraction = np.zeros(touched.size)
    fraction[np.searchsorted(touched, cells)] = frac_all
    fraction[np.isin(touched, full)] = 1.0
    return CellArea(touched.astype(np.int64), full.astype(np.int64), fraction)
