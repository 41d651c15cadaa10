"""The feasible region: every place a target can be, given the speed bound.

Each trusted landmark with RTT ``r`` draws a disk (a spherical cap) of radius
``v_max·(r − allowance)/2``. The strict region is the intersection of all disks.
fleetproof keeps a *tolerant* region instead: the places excluded by at most
``tolerance`` disks (default 1). One mislocated landmark therefore can never
empty the region or push an honest target out of it; it takes two independent
contradictions to prove a claim false.

The region is a set of grid cells, each kept unless its whole area is outside
a disk (cell margins, see :mod:`fleetproof.geo.grid`) — so it always contains
the exact region. Work starts from the tightest ``tolerance + 1`` disks (a
place in the region lies in at least one of them) and tests candidates against
the remaining disks in order of size, dropping cells as soon as they exceed the
tolerance; the globe is never scanned unless the tightest disks cover it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fleetproof.geo.grid import Grid

__all__ = [
    "BlockedCells",
    "FeasibleRegion",
    "candidate_cells",
    "count_outside",
    "feasible_cells",
    "surviving",
    "surviving_many",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_FIRST_PASS = 8


def _excluded(grid: Grid, cells: IntArray, vecs: FloatArray, radius_rad: FloatArray) -> npt.NDArray[np.int64]:
    """How many of the disks exclude each cell entirely (cell margin included)."""
    if cells.size == 0 or radius_rad.size == 0:
        return np.zeros(cells.size, dtype=np.int64)
    if cells.size < 4 * grid.n_rows:
        return count_outside(grid.centers[cells], grid.cell_margin(cells), vecs, radius_rad)
    # A cell's margin depends on its row only: one threshold per row and disk, the same numbers.
    reach = radius_rad[None, :] + grid.row_margin_rad[:, None]
    limit = np.where(reach < np.pi, np.cos(np.minimum(reach, np.pi)) - 1e-12, -np.inf)
    dots = grid.centers[cells] @ vecs.T
    return np.asarray((dots < limit[cells // grid.n_cols]).sum(axis=1), dtype=np.int64)


def count_outside(
    centres: FloatArray, margin: FloatArray, vecs: FloatArray, radius_rad: FloatArray
) -> npt.NDArray[np.int64]:
    """Disks that exclude every point within ``margin`` of each centre.

    ``radius_rad`` holds the disks' radii (L,), or one row of radii per centre (N, L).
    """
    reach = (radius_rad if radius_rad.ndim == 2 else radius_rad[None, :]) + margin[:, None]
    dots = centres @ vecs.T
    out = (reach < np.pi) & (dots < np.cos(np.minimum(reach, np.pi)) - 1e-12)
    return np.asarray(out.sum(axis=1), dtype=np.int64)


@dataclass(frozen=True)
class BlockedCells:
    """Cells grouped into blocks, so that a test can drop whole blocks before looking at cells."""

    cells: IntArray
    block_of: IntArray
    centres: FloatArray
    margin: FloatArray

    @staticmethod
    def build(grid: Grid, cells: IntArray, size: int = 8) -> BlockedCells:
        block_of, centres, margin = grid.blocks(cells, size)
        return BlockedCells(np.asarray(cells, dtype=np.int64), block_of, centres, margin)

    def candidates(self, vecs: FloatArray, radius_rad: FloatArray, tolerance: int) -> IntArray:
        """Cells of the blocks that at most ``tolerance`` disks exclude entirely."""
        if radius_rad.size == 0:
            return self.cells
        alive = count_outside(self.centres, self.margin, vecs, radius_rad) <= tolerance
        return np.asarray(self.cells[alive[self.block_of]], dtype=np.int64)


def feasible_cells(
    grid: Grid, vecs: FloatArray, radius_rad: FloatArray, tolerance: int = 1
) -> tuple[IntArray, IntArray]:
    """Cells excluded by at most ``tolerance`` of the disks, and their exclusion counts.

    ``vecs`` are the landmarks' unit vectors (n, 3), ``radius_rad`` their angular
    bounds (n,), both for valid measurements only.

    >>> from fleetproof.geo.sphere import unit_vectors
    >>> g = Grid(1.0)
    >>> v = unit_vectors([0.0, 0.0, 10.0], [0.0, 10.0, 5.0])
    >>> cells, n = feasible_cells(g, v, np.radians([8.0, 8.0, 8.0]), tolerance=0)
    >>> bool(int(g.cell_of(3.0, 5.0)) in cells), bool(int(g.cell_of(-20.0, 5.0)) in cells)
    (True, False)
    """
    order = np.argsort(radius_rad, kind="stable")
    vecs, radius_rad = vecs[order], radius_rad[order]
    return surviving(grid, candidate_cells(grid, vecs, radius_rad, tolerance), vecs, radius_rad, tolerance)


def candidate_cells(grid: Grid, vecs: FloatArray, radius_rad: FloatArray, tolerance: int = 1) -> IntArray:
    """Cells that may hold a tolerant place: those of the ``tolerance + 1`` tightest disks' boxes.

    Disks must come tightest first. A place excluded by at most ``tolerance`` disks lies in
    one of them; the whole globe is returned only when they do not bound anything.
    """
    seeds = min(tolerance + 1, radius_rad.size)
    if seeds == 0 or radius_rad[seeds - 1] >= np.pi:
        return np.arange(grid.n_cells, dtype=np.int64)
    parts = []
    for k in range(seeds):
        lat = float(np.degrees(np.arcsin(np.clip(vecs[k, 2], -1.0, 1.0))))
        lon = float(np.degrees(np.arctan2(vecs[k, 1], vecs[k, 0])))
        parts.append(grid.cap_cells(lat, lon, float(radius_rad[k])))
    return np.asarray(np.unique(np.concatenate(parts)), dtype=np.int64)


def surviving(
    grid: Grid, cells: IntArray, vecs: FloatArray, radius_rad: FloatArray, tolerance: int = 1
) -> tuple[IntArray, IntArray]:
    """The given cells that at most ``tolerance`` disks exclude, with their counts.

    Disks should come tightest first: most cells fall to the first few, and the
    rest are tested only on the survivors.
    """
    counts = np.zeros(cells.size, dtype=np.int64)
    for lo, hi in ((0, _FIRST_PASS), (_FIRST_PASS, radius_rad.size)):
        if lo >= hi or cells.size == 0:
            continue
        v, r = _relevant(grid, cells, vecs[lo:hi], radius_rad[lo:hi])
        counts += _excluded(grid, cells, v, r)
        keep = counts <= tolerance
        cells, counts = cells[keep], counts[keep]
    return cells, counts


def surviving_many(
    grid: Grid,
    cells: IntArray,
    owner: IntArray,
    vectors: FloatArray,
    order: IntArray,
    radius_rad: FloatArray,
    tolerance: int = 1,
) -> npt.NDArray[np.bool_]:
    """:func:`surviving` for the cells of many targets at once: which cells survive their owner's disks.

    ``vectors`` are all landmarks' unit vectors (L, 3); ``order`` (T, L) lists each target's
    landmarks tightest disk first and ``radius_rad`` (T, L) their radii in that order, ``inf``
    for landmarks without a measurement (such a disk excludes nothing). ``owner`` (P,) names
    each cell's target. As in :func:`surviving`, the tightest disks are tried first and the
    rest only on the cells they leave.
    """
    counts = np.zeros(cells.size, dtype=np.int64)
    alive = np.arange(cells.size, dtype=np.int64)
    for lo, hi in ((0, _FIRST_PASS), (_FIRST_PASS, radius_rad.shape[1])):
        if lo >= hi or alive.size == 0:
            continue
        who, c = owner[alive], cells[alive]
        dots = np.einsum("pk,pwk->pw", grid.centers[c], vectors[order[who, lo:hi]])
        reach = radius_rad[who, lo:hi] + grid.cell_margin(c)[:, None]
        out = (reach < np.pi) & (dots < np.cos(np.minimum(reach, np.pi)) - 1e-12)
        counts[alive] += out.sum(axis=1)
        alive = alive[counts[alive] <= tolerance]
    keep = np.zeros(cells.size, dtype=bool)
    keep[alive] = True
    return keep


def _relevant(
    grid: Grid, cells: IntArray, vecs: FloatArray, radius_rad: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Only the disks that could exclude some of the cells: the others contain a cap around them all."""
    if cells.size < 64 or radius_rad.size == 0:
        return vecs, radius_rad
    centres = grid.centers[cells]
    mid = centres.sum(axis=0)
    norm = float(np.linalg.norm(mid))
    if norm < 1e-9:
        return vecs, radius_rad
    mid /= norm
    spread = float(np.max(np.arccos(np.clip(centres @ mid, -1.0, 1.0)) + grid.cell_margin(cells)))
    reach = np.arccos(np.clip(vecs @ mid, -1.0, 1.0)) + spread
    keep = radius_rad < reach + 1e-9
    return vecs[keep], radius_rad[keep]


@dataclass(frozen=True)
class FeasibleRegion:
    """A target's feasible region as grid cells (a conservative superset of the exact region)."""

    grid: Grid
    cells: IntArray
    exclusions: IntArray
    tolerance: int

    @property
    def empty(self) -> bool:
        return self.cells.size == 0

    def strict_cells(self) -> IntArray:
        """Cells inside every disk: the region with no tolerance."""
        return np.asarray(self.cells[self.exclusions == 0], dtype=np.int64)

    def area_km2(self) -> float:
        """Area of the cells (km²), an upper bound on the region's area."""
        from fleetproof.geo.sphere import EARTH_RADIUS_KM

        res = np.radians(self.grid.resolution_deg)
        lat, _ = self.grid.center_latlon(self.cells)
        return float(np.sum(EARTH_RADIUS_KM**2 * res * 2 * np.sin(res / 2) * np.cos(np.radians(lat))))

    def to_geojson(self, strict: bool = False) -> dict[str, Any]:
        """The region as a GeoJSON MultiPolygon of cell boxes (lon/lat degrees), for maps and dashboards."""
        cells = self.strict_cells() if strict else self.cells
        return {"type": "MultiPolygon", "coordinates": self.grid.cell_polygons(cells)}
