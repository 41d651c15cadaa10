"""A global latitude–longitude grid whose cells carry their own error margin.

The feasible region and every claimed area are sets of grid cells. A cell is
kept in a feasible region unless *every* point of it is provably outside some
disk: the test widens each disk by the cell's margin (the largest angle from
the cell's centre to any of its points), so a coarse grid can only make the
region larger, never exclude a true place. Cells are numbered row-major from
the south-west corner: ``index = row * n_cols + col``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetproof.geo.sphere import unit_vectors

__all__ = ["Grid", "corner_margin", "csr_group", "expand_ranges", "in_sorted"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def in_sorted(index: IntArray, keys: IntArray) -> npt.NDArray[np.bool_]:
    """Whether each key is in the sorted ``index`` (cell sets and area-keyed cell sets are kept sorted)."""
    if index.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(index, keys), index.size - 1)
    return np.asarray(index[pos] == keys)


def csr_group(keys: IntArray, values: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Group ``values`` by ``keys``: (sorted unique keys, offsets, values in key order).

    The compressed table the edge indexes of claimed areas and coasts are filed in:
    the values of ``uniq[i]`` are ``grouped[ptr[i]:ptr[i + 1]]``.
    """
    order = np.argsort(keys, kind="stable")
    uniq, counts = np.unique(keys[order], return_counts=True)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return uniq.astype(np.int64), ptr, values[order].astype(np.int64)


def expand_ranges(start: IntArray, count: IntArray) -> tuple[IntArray, IntArray]:
    """For ranges ``[start, start + count)``: (range index, position) of every element.

    Walks many variable-length ranges at once without a Python loop.
    """
    owner = np.repeat(np.arange(count.size, dtype=np.int64), count)
    pos = (
        np.arange(int(count.sum()), dtype=np.int64)
        - np.repeat(np.cumsum(count) - count, count)
        + start[owner]
    )
    return owner, pos


def corner_margin(lat_lo: FloatArray, res: float) -> FloatArray:
    """Largest central angle from a cell's centre to its corners (radians), slightly rounded up.

    On a sphere the farthest point of a latitude–longitude cell from its centre is one
    of its corners (the boundary is made of two meridian arcs and two parallels).
    """
    c = unit_vectors(lat_lo + res / 2, res / 2)
    worst = np.zeros(lat_lo.shape)
    for dlat in (0.0, res):
        for dlon in (0.0, res):
            k = unit_vectors(lat_lo + dlat, dlon)
            ang = np.arccos(np.clip(np.sum(c * k, axis=-1), -1.0, 1.0))
            worst = np.maximum(worst, ang)
    return np.asarray(worst * 1.0001 + 1e-9, dtype=np.float64)


@dataclass(frozen=True)
class Grid:
    """A global grid of ``resolution_deg`` square cells.

    >>> g = Grid(0.5)
    >>> g.n_rows, g.n_cols, g.n_cells
    (360, 720, 259200)
    >>> int(g.cell_of(48.85, 2.35))
    199804
    """

    resolution_deg: float = 0.5
    n_rows: int = field(init=False)
    n_cols: int = field(init=False)
    row_margin_rad: FloatArray = field(init=False, repr=False, compare=False)
    centers: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        res = self.resolution_deg
        n_rows = round(180 / res)
        if n_rows * res != 180 or res <= 0:
            raise ValueError("resolution_deg must divide 180 exactly")
        object.__setattr__(self, "n_rows", n_rows)
        object.__setattr__(self, "n_cols", 2 * n_rows)
        lat_lo = np.asarray(-90.0 + res * np.arange(n_rows), dtype=np.float64)
        object.__setattr__(self, "row_margin_rad", corner_margin(lat_lo, res))
        lat_c = lat_lo + res / 2
        lon_c = -180.0 + res * (np.arange(2 * n_rows) + 0.5)
        la, lo = np.meshgrid(lat_c, lon_c, indexing="ij")
        object.__setattr__(self, "centers", unit_vectors(la, lo).reshape(-1, 3))

    @property
    def n_cells(self) -> int:
        return self.n_rows * self.n_cols

    def cell_of(self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> IntArray:
        """Index of the cell holding each point (points on the north edge or 180° wrap in)."""
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
        row = np.clip(np.floor((lat + 90.0) / self.resolution_deg), 0, self.n_rows - 1).astype(np.int64)
        col = np.floor((lon + 180.0) / self.resolution_deg).astype(np.int64) % self.n_cols
        return np.asarray(row * self.n_cols + col, dtype=np.int64)

    def center_latlon(self, cells: IntArray) -> tuple[FloatArray, FloatArray]:
        """Latitude and longitude (degrees) of cell centres."""
        res = self.resolution_deg
        rows, cols = np.divmod(np.asarray(cells, dtype=np.int64), self.n_cols)
        return -90.0 + res * (rows + 0.5), -180.0 + res * (cols + 0.5)

    def cap_cells(self, lat_deg: float, lon_deg: float, radius_rad: float, stride: int = 1) -> IntArray:
        """Cells of the latitude–longitude box around a spherical cap, widened by one cell.

        Every cell that meets the cap is returned (plus some that do not); the caller
        tests them exactly. This is what keeps a target's work proportional to the
        size of its region instead of the size of the globe. ``stride`` > 1 keeps every
        stride-th row and column: a sparse probe of the box.
        """
        res = self.resolution_deg
        rho = float(np.degrees(radius_rad)) + res
        lat_lo, lat_hi = lat_deg - rho, lat_deg + rho
        r0 = max(int(np.floor((lat_lo + 90.0) / res)), 0)
        r1 = min(int(np.floor((lat_hi + 90.0) / res)), self.n_rows - 1)
        rows = np.arange(r0, r1 + 1, dtype=np.int64)
        s = np.sin(np.radians(rho))
        c = np.cos(np.radians(lat_deg))
        if lat_lo <= -90.0 or lat_hi >= 90.0 or rho >= 90.0 or s >= c:
            cols = np.arange(self.n_cols, dtype=np.int64)
        else:
            half = float(np.degrees(np.arcsin(s / c))) + res
            c0 = int(np.floor((lon_deg - half + 180.0) / res))
            c1 = int(np.floor((lon_deg + half + 180.0) / res))
            cols = np.arange(c0, c1 + 1, dtype=np.int64) % self.n_cols
            cols = np.unique(cols)
        rows, cols = rows[::stride], cols[::stride]
        return np.asarray((rows[:, None] * self.n_cols + cols[None, :]).ravel(), dtype=np.int64)

    def cap_cells_many(
        self, lat_deg: FloatArray, lon_deg: FloatArray, radius_rad: FloatArray, stride: IntArray
    ) -> tuple[IntArray, IntArray]:
        """:meth:`cap_cells` for many caps in one go: (cells, owner), owner being each cell's cap.

        The cells of cap ``k`` are exactly ``cap_cells(lat[k], lon[k], radius[k], stride[k])``,
        in the same order; a batch of targets pays a few numpy calls instead of a few per cap.
        """
        res, n_cols = self.resolution_deg, self.n_cols
        stride = np.asarray(stride, dtype=np.int64)
        rho = np.degrees(radius_rad) + res
        lat_lo, lat_hi = lat_deg - rho, lat_deg + rho
        r0 = np.maximum(np.floor((lat_lo + 90.0) / res).astype(np.int64), 0)
        r1 = np.minimum(np.floor((lat_hi + 90.0) / res).astype(np.int64), self.n_rows - 1)
        s = np.sin(np.radians(rho))
        c = np.cos(np.radians(lat_deg))
        whole = (lat_lo <= -90.0) | (lat_hi >= 90.0) | (rho >= 90.0) | (s >= c)
        half = np.degrees(np.arcsin(np.where(whole, 0.0, s / np.where(whole, 1.0, c)))) + res
        c0 = np.floor((lon_deg - half + 180.0) / res).astype(np.int64)
        c1 = np.floor((lon_deg + half + 180.0) / res).astype(np.int64)
        # The sorted columns are two ascending runs: ``head`` (0, 1, …) when the box wraps, then ``tail``.
        head = np.where(c0 < 0, c1 + 1, np.where(c1 >= n_cols, c1 - n_cols + 1, 0))
        tail = np.where(c0 < 0, c0 + n_cols, c0)
        width = c1 - c0 + 1
        head, tail, width = np.where(whole, 0, head), np.where(whole, 0, tail), np.where(whole, n_cols, width)
        n_r = np.maximum((r1 - r0) // stride + 1, 0)
        n_c = (width - 1) // stride + 1
        size = n_r * n_c
        owner = np.repeat(np.arange(size.size, dtype=np.int64), size)
        k = np.arange(int(size.sum()), dtype=np.int64) - np.repeat(np.cumsum(size) - size, size)
        ri, ci = np.divmod(k, n_c[owner])
        st = stride[owner]
        m = ci * st
        col = np.where(m < head[owner], m, tail[owner] + m - head[owner])
        return (r0[owner] + ri * st) * n_cols + col, owner

    def blocks(self, cells: IntArray, size: int) -> tuple[IntArray, FloatArray, FloatArray]:
        """Group cells into size×size blocks: (block of each cell, block centres (B, 3), block margins (B,)).

        A block's margin is the largest angle from its centre to any of its points,
        so a disk that excludes the centre by more than the margin excludes every
        cell of the block: whole blocks can be dropped at once.
        """
        rows, cols = np.divmod(np.asarray(cells, dtype=np.int64), self.n_cols)
        key = (rows // size) * self.n_cols + cols // size
        uniq, inverse = np.unique(key, return_inverse=True)
        brow, bcol = np.divmod(uniq, self.n_cols)
        span = self.resolution_deg * size
        lat_lo = np.minimum(-90.0 + brow * span, 90.0 - span)
        lat_hi = np.minimum(lat_lo + span, 90.0)
        lon_c = -180.0 + (bcol + 0.5) * span
        centres = unit_vectors((lat_lo + lat_hi) / 2, lon_c).reshape(-1, 3)
        margin = np.asarray(corner_margin(np.asarray(lat_lo, dtype=np.float64), span), dtype=np.float64)
        return np.asarray(inverse, dtype=np.int64).ravel(), centres, margin

    def cell_margin(self, cells: IntArray) -> FloatArray:
        """Margin (radians) of each cell: the largest angle from its centre to any of its points."""
        return np.asarray(self.row_margin_rad[np.asarray(cells) // self.n_cols], dtype=np.float64)

    def cell_polygons(self, cells: IntArray) -> list[list[list[list[float]]]]:
        """GeoJSON MultiPolygon coordinates for a set of cells, runs in a row merged into one box."""
        cells = np.unique(np.asarray(cells, dtype=np.int64))
        if cells.size == 0:
            return []
        rows = cells // self.n_cols
        breaks = np.flatnonzero((np.diff(cells) != 1) | (np.diff(rows) != 0)) + 1
        starts = np.concatenate([[0], breaks]).tolist()
        ends = np.concatenate([breaks, [cells.size]]).tolist()
        res = self.resolution_deg
        polys: list[list[list[list[float]]]] = []
        for s, e in zip(starts, ends, strict=True):
            row, c0 = divmod(int(cells[s]), self.n_cols)
            c1 = int(cells[e - 1]) % self.n_cols
            y0, y1 = -90.0 + res * row, -90.0 + res * (row + 1)
            x0, x1 = -180.0 + res * c0, -180.0 + res * (c1 + 1)
            polys.append([[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]])
        return polys
