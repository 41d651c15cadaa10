"""Territorial waters: a country claim covers the country's land and the sea within 12 nautical miles.

Under UNCLOS (art. 3) a coastal state's territorial sea reaches 12 nautical miles
(22.224 km) from its baseline, and the waters landward of it (bays, river mouths) are
its internal waters. fleetproof models both with one rule on the Natural Earth land:
a place at sea (in no country's polygon) belongs to country ``C`` when its distance to
``C``'s land is at most :data:`TERRITORIAL_SEA_KM` and no other country's land is
nearer (the equidistance line, UNCLOS art. 15). Every other place at sea belongs to no
country. Distances are great circles on the verdicts' sphere to the polygons' edges
(straight in longitude/latitude, as the land is drawn). Baselines are not modelled:
distances run from the drawn coast, so the middle of a bay wider than 24 nautical
miles (Hudson Bay) stays outside, where a state could close it with a straight line.

The areas a :class:`~fleetproof.geo.countries.CountryTable` built with waters holds are
land and waters together (``fleetproof.geodata.build``); :class:`WaterShape` answers
refinement's questions about rectangles (:mod:`fleetproof.geo.refine`) for the same rule.

Soundness rests on bounds, not on estimates. For a rectangle with centre ``c`` and
``ρ`` the largest distance from ``c`` to any of its points, each place ``p`` in it is
within ``ρ`` of ``c``, so its distance to any coast is within ``ρ`` of ``c``'s. The
distances at ``c`` are computed in a local equirectangular projection, in which the
edges stay straight (it is affine in longitude and latitude); against the sphere it
errs only in the east–west scale, by the ratio of ``cos φ`` over the latitudes within
reach, and both bounds are widened by that ratio. Near the poles (beyond
:data:`POLAR_DEG`) nothing is decided: a rectangle there may touch waters and is never
wholly in them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetproof.geo.grid import Grid, corner_margin, csr_group, expand_ranges
from fleetproof.geo.raster import CellArea
from fleetproof.geo.refine import Shape
from fleetproof.geo.sphere import EARTH_RADIUS_KM

__all__ = ["POLAR_DEG", "TERRITORIAL_SEA_KM", "Coasts", "WaterShape", "with_waters"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: 12 nautical miles of 1852 m (UNCLOS art. 3).
TERRITORIAL_SEA_KM = 22.224
KM_PER_DEG = EARTH_RADIUS_KM * np.pi / 180.0
#: Latitude (degrees) beyond which distances are not resolved (the projection's scale error grows).
POLAR_DEG = 84.0
#: Absolute slack (km) on every distance bound, for rounding.
_SLACK_KM = 1e-3
#: Query points per batch of the distance search (bounds the (point, edge) pairs held at once).
_CHUNK = 1024
#: Rectangles whose classification :class:`Coasts` remembers, over all claims, before it forgets them
#: all (about 100 bytes each).
MEMO_MAX = 400_000


def _lookup(keys: IntArray, ptr: IntArray, query: IntArray) -> tuple[IntArray, IntArray]:
    """Start and length, in a CSR table, of the values filed under each query key (0 where none)."""
    if keys.size == 0:
        return np.zeros(query.size, dtype=np.int64), np.zeros(query.size, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    hit = keys[pos] == query
    start = np.where(hit, ptr[pos], 0)
    return start, np.where(hit, ptr[pos + 1] - start, 0)


@dataclass(frozen=True)
class Coasts:
    """Every country's boundary edges, indexed for "how far is the nearest coast of these countries".

    ``touched`` keys (``cell * len(codes) + country``, sorted) say which countries' areas
    meet each grid cell: only those can hold a cell's points on land.
    """

    grid: Grid
    codes: tuple[str, ...]
    edges: FloatArray
    owner: IntArray
    cell_keys: IntArray
    cell_ptr: IntArray
    cell_edges: IntArray
    touched_keys: IntArray
    width_km: float = TERRITORIAL_SEA_KM
    _shapes: dict[int, Shape] = field(default_factory=dict, repr=False, compare=False)
    #: (claim mask, sub-cell size) → sub-cell key → touched + 2·full: see :meth:`WaterShape.classify`.
    _memo: dict[tuple[bytes, float], dict[int, int]] = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def build(
        grid: Grid,
        edges: Mapping[str, FloatArray],
        touched: Mapping[str, IntArray],
        width_km: float = TERRITORIAL_SEA_KM,
    ) -> Coasts:
        """Index ``edges`` (per code, rows ``x1, y1, x2, y2``) by the grid cells their bounding box meets.

        ``touched``: per code, the grid cells its land (or its claim) may meet.
        """
        codes = tuple(sorted(edges))
        parts = [np.asarray(edges[c], dtype=np.float64).reshape(-1, 4) for c in codes]
        all_edges = np.vstack(parts) if parts else np.zeros((0, 4))
        owner = np.repeat(np.arange(len(codes), dtype=np.int64), [p.shape[0] for p in parts])
        res = grid.resolution_deg
        x1, y1, x2, y2 = all_edges.T

        def clip(v: FloatArray, off: float, n: int) -> IntArray:
            return np.asarray(np.clip(np.floor((v + off) / res), 0, n - 1), dtype=np.int64)

        c0, c1 = clip(np.minimum(x1, x2), 180.0, grid.n_cols), clip(np.maximum(x1, x2), 180.0, grid.n_cols)
        r0, r1 = clip(np.minimum(y1, y2), 90.0, grid.n_rows), clip(np.maximum(y1, y2), 90.0, grid.n_rows)
        nc, nr = c1 - c0 + 1, r1 - r0 + 1
        edge, k = expand_ranges(np.zeros(all_edges.shape[0], dtype=np.int64), nc * nr)
        dr, dc = np.divmod(k, nc[edge])
        keys, ptr, cell_edges = csr_group((r0[edge] + dr) * grid.n_cols + c0[edge] + dc, edge)
        n = len(codes)
        tk = [np.asarray(touched[c], dtype=np.int64) * n + i for i, c in enumerate(codes) if c in touched]
        touched_keys = np.unique(np.concatenate(tk)) if tk else np.zeros(0, dtype=np.int64)
        return Coasts(grid, codes, all_edges, owner, keys, ptr, cell_edges, touched_keys, float(width_km))

    def shape(self, k: int) -> Shape:
        """Country ``k``'s polygons, for point and rectangle tests (built on first use)."""
        if k not in self._shapes:
            self._shapes[k] = Shape.build(self.grid, self.edges[self.owner == k])
        return self._shapes[k]

    def memo(self, claim: BoolArray, size: float) -> dict[int, int]:
        """The remembered classifications of ``size``-degree rectangles for the claim ``claim``."""
        if sum(len(m) for m in self._memo.values()) > MEMO_MAX:
            self._memo.clear()
        return self._memo.setdefault((claim.tobytes(), size), {})

    def mask(self, codes: Sequence[str]) -> BoolArray:
        """Which countries of the index are among ``codes``."""
        want = {c.strip().upper() for c in codes}
        return np.array([c in want for c in self.codes], dtype=bool)

    def distances(
        self, lon: FloatArray, lat: FloatArray, claim: BoolArray, reach_km: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
        """Bounds on each point's distance (km) to the claimed countries' edges and to all others'.

        Returns ``(a_lo, a_hi, b_lo, b_hi, resolved)``: ``a`` for the countries in ``claim``,
        ``b`` for the rest. A lower bound is at most ``reach_km``; an upper bound is ``inf``
        where no edge lies within reach. Points beyond :data:`POLAR_DEG` are not resolved.
        """
        n = lon.size
        out = [np.empty(n), np.empty(n), np.empty(n), np.empty(n)]
        resolved = np.empty(n, dtype=bool)
        for lo in range(0, n, _CHUNK):
            hi = min(lo + _CHUNK, n)
            parts = self._distances(lon[lo:hi], lat[lo:hi], claim, reach_km[lo:hi])
            for arr, part in zip(out, parts[:4], strict=True):
                arr[lo:hi] = part
            resolved[lo:hi] = parts[4]
        return out[0], out[1], out[2], out[3], resolved

    def _distances(
        self, lon: FloatArray, lat: FloatArray, claim: BoolArray, reach: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
        grid, res = self.grid, self.grid.resolution_deg
        n = lon.size
        dlat = reach / KM_PER_DEG + 1e-9
        far = np.abs(lat) + dlat
        resolved = far < POLAR_DEG
        far = np.minimum(far, POLAR_DEG)
        cos_far = np.cos(np.radians(far))
        dlon = np.where(resolved, reach / (KM_PER_DEG * cos_far), 0.0)
        r0 = np.clip(np.floor((lat - dlat + 90.0) / res), 0, grid.n_rows - 1).astype(np.int64)
        r1 = np.clip(np.floor((lat + dlat + 90.0) / res), 0, grid.n_rows - 1).astype(np.int64)
        c0 = np.floor((lon - dlon + 180.0) / res).astype(np.int64)
        c1 = np.floor((lon + dlon + 180.0) / res).astype(np.int64)
        nr, nc = r1 - r0 + 1, np.minimum(c1 - c0 + 1, grid.n_cols)
        point, k = expand_ranges(np.zeros(n, dtype=np.int64), np.where(resolved, nr * nc, 0))
        dr, dc = np.divmod(k, nc[point])
        cells = (r0[point] + dr) * grid.n_cols + (c0[point] + dc) % grid.n_cols
        start, count = _lookup(self.cell_keys, self.cell_ptr, cells)
        pair, pos = expand_ranges(start, count)
        p, e = point[pair], self.cell_edges[pos]
        cos_p = np.cos(np.radians(lat))
        x1, y1, x2, y2 = self.edges[e].T
        sx = cos_p[p] * KM_PER_DEG
        ax = ((x1 - lon[p] + 180.0) % 360.0 - 180.0) * sx
        bx = ((x2 - lon[p] + 180.0) % 360.0 - 180.0) * sx
        ay, by = (y1 - lat[p]) * KM_PER_DEG, (y2 - lat[p]) * KM_PER_DEG
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = np.clip(
            np.divide(-(ax * dx + ay * dy), length2, out=np.zeros_like(dx), where=length2 > 0), 0.0, 1.0
        )
        d = np.hypot(ax + t * dx, ay + t * dy)
        best = np.full(2 * n, np.inf)
        np.minimum.at(best, 2 * p + claim[self.owner[e]].astype(np.int64), d)
        planar_b, planar_a = best[0::2], best[1::2]
        # East–west scale of the sphere against the projection's, over the latitudes within reach.
        a_lat = np.abs(lat)
        k_min = cos_far / cos_p
        k_max = np.cos(np.radians(np.maximum(a_lat - dlat, 0.0))) / cos_p

        def bounds(planar: FloatArray) -> tuple[FloatArray, FloatArray]:
            lower = np.minimum(planar * k_min, reach) - _SLACK_KM
            upper = np.where(planar <= reach, planar * k_max + _SLACK_KM, np.inf)
            return np.maximum(lower, 0.0), upper

        a_lo, a_hi = bounds(planar_a)
        b_lo, b_hi = bounds(planar_b)
        return a_lo, a_hi, b_lo, b_hi, resolved

    def others_at(self, cells: IntArray, claim: BoolArray) -> tuple[IntArray, IntArray]:
        """(index into ``cells``, country) for each country outside ``claim`` whose area meets the cell."""
        m = len(self.codes)
        lo = np.searchsorted(self.touched_keys, cells * m)
        hi = np.searchsorted(self.touched_keys, cells * m + m)
        which, pos = expand_ranges(lo, hi - lo)
        country = self.touched_keys[pos] % m
        keep = ~claim[country]
        return which[keep], country[keep]


@dataclass(frozen=True)
class WaterShape:
    """The countries of a claim with their waters, for :func:`fleetproof.geo.refine.refine`.

    ``land`` are the claimed countries' polygons; ``claim`` marks them in ``coasts``.
    """

    coasts: Coasts
    claim: BoolArray
    land: tuple[Shape, ...]

    @staticmethod
    def build(coasts: Coasts, codes: Sequence[str]) -> WaterShape:
        claim = coasts.mask(codes)
        return WaterShape(coasts, claim, tuple(coasts.shape(int(k)) for k in np.flatnonzero(claim)))

    def _in_other_land(
        self,
        cell: IntArray,
        lon: FloatArray,
        lat: FloatArray,
        x0: FloatArray | None = None,
        size: float = 0.0,
    ) -> tuple[BoolArray, BoolArray]:
        """Per point: inside an unclaimed country's land; per rectangle (``x0`` given): wholly inside one."""
        point_in = np.zeros(cell.size, dtype=bool)
        rect_in = np.zeros(cell.size, dtype=bool)
        which, country = self.coasts.others_at(cell, self.claim)
        for k in np.unique(country).tolist():
            sel = which[country == k]
            shape = self.coasts.shape(int(k))
            point_in[sel] |= shape.inside(lon[sel], lat[sel])
            if x0 is not None:
                rect_in[sel] |= shape.classify(cell[sel], x0[sel], lat[sel] - size / 2, size)[1]
        return point_in, rect_in

    def classify(
        self, cell: IntArray, x0: FloatArray, y0: FloatArray, size: float
    ) -> tuple[BoolArray, BoolArray]:
        """(touched, full) per rectangle ``[x0, x0 + size] × [y0, y0 + size]`` in grid ``cell``.

        Remembered per claim for rectangles on the ``size`` grid (refinement's sub-cells): the
        same sub-cells come back whenever a target near the same border is judged again (each
        round on a server, each budget step of a plan), and the distance bounds are the cost.
        """
        col, row = np.rint((x0 + 180.0) / size), np.rint((y0 + 90.0) / size)
        aligned = (np.abs(x0 + 180.0 - col * size) <= 1e-9) & (np.abs(y0 + 90.0 - row * size) <= 1e-9)
        keys = (row.astype(np.int64) * (1 << 32) + col.astype(np.int64)).tolist()
        memo = self.coasts.memo(self.claim, size)
        code = np.array(
            [memo.get(k, -1) if a else -1 for k, a in zip(keys, aligned.tolist(), strict=True)],
            dtype=np.int64,
        )
        miss = np.flatnonzero(code < 0)
        if miss.size:
            t, f = self._classify(cell[miss], x0[miss], y0[miss], size)
            code[miss] = t.astype(np.int64) + 2 * f.astype(np.int64)
            for i in miss[aligned[miss]].tolist():
                memo[keys[i]] = int(code[i])
        return (code & 1).astype(bool), (code & 2).astype(bool)

    def _classify(
        self, cell: IntArray, x0: FloatArray, y0: FloatArray, size: float
    ) -> tuple[BoolArray, BoolArray]:
        touched = np.zeros(cell.size, dtype=bool)
        full = np.zeros(cell.size, dtype=bool)
        for shape in self.land:
            t, f = shape.classify(cell, x0, y0, size)
            touched |= t
            full |= f
        todo = np.flatnonzero(~full)
        if todo.size == 0:
            return touched, full
        c, bx, by = cell[todo], x0[todo], y0[todo]
        lon, lat = bx + size / 2, by + size / 2
        rho = corner_margin(by, size) * EARTH_RADIUS_KM + _SLACK_KM
        w = self.coasts.width_km
        a_lo, a_hi, b_lo, b_hi, ok = self.coasts.distances(lon, lat, self.claim, w + 3.0 * rho + 1.0)
        centre_in, rect_in = self._in_other_land(c, lon, lat, bx, size)
        # May hold a place at sea within reach of the claim and no nearer to another country.
        water_touched = ~ok | ~((a_lo - rho > w) | (b_hi + rho < a_lo - rho) | rect_in)
        # Every place is claimed land, or sea within reach and nearest to the claim.
        water_full = ok & (a_hi + rho <= w) & (a_hi + rho <= b_lo - rho) & ~centre_in
        touched[todo] |= water_touched
        full[todo] |= water_full
        return touched, full

    def inside(self, lon: FloatArray, lat: FloatArray) -> BoolArray:
        """Whether each point is claimed land or claimed waters (a best estimate, for witnesses)."""
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        out = np.zeros(lon.size, dtype=bool)
        for shape in self.land:
            out |= shape.inside(lon, lat)
        todo = np.flatnonzero(~out)
        if todo.size == 0:
            return out
        plon, plat = lon[todo], lat[todo]
        cell = self.coasts.grid.cell_of(plat, plon)
        w = self.coasts.width_km
        a_lo, a_hi, b_lo, b_hi, ok = self.coasts.distances(
            plon, plat, self.claim, np.full(todo.size, w + 1.0)
        )
        a, b = (a_lo + np.minimum(a_hi, w + 1.0)) / 2, (b_lo + np.minimum(b_hi, w + 1.0)) / 2
        on_land = self._in_other_land(cell, plon, plat)[0]
        out[todo] = ok & (a_hi <= w + 1.0) & (a <= w) & (a <= b) & ~on_land
        return out


def _near_coast(grid: Grid, land: CellArea, width_km: float) -> IntArray:
    """Cells that may hold a place within ``width_km`` of the area's boundary (its non-full cells)."""
    seeds = np.setdiff1d(land.touched, land.full, assume_unique=True)
    if seeds.size == 0:
        return seeds
    res = grid.resolution_deg
    rows, cols = np.divmod(seeds, grid.n_cols)
    poleward = np.minimum(
        np.maximum(np.abs(-90.0 + rows * res), np.abs(-90.0 + (rows + 1) * res)) + res, 89.99
    )
    k = np.ceil(width_km / (KM_PER_DEG * np.cos(np.radians(poleward))) / res).astype(np.int64) + 1
    k = np.minimum(k, grid.n_cols // 2)
    rr = max(1, int(np.ceil(width_km / KM_PER_DEG / res)))
    out = []
    for dr in range(-rr, rr + 1):
        r = rows + dr
        ok = (r >= 0) & (r < grid.n_rows)
        seed, off = expand_ranges(np.zeros(int(ok.sum()), dtype=np.int64), 2 * k[ok] + 1)
        c = (cols[ok][seed] + off - k[ok][seed]) % grid.n_cols
        out.append(r[ok][seed] * grid.n_cols + c)
    return np.setdiff1d(np.unique(np.concatenate(out)), land.full, assume_unique=True)


def with_waters(coasts: Coasts, code: str, land: CellArea, levels: int = 2, split: int = 4) -> CellArea:
    """A country's land cells with its waters added: the claim's ``touched`` and ``full`` cells.

    Cells near the coast are classified whole, then their undecided parts ``levels`` times
    more on ``split × split`` sub-rectangles (:meth:`WaterShape.classify`): a cell is full
    when every part is, touched when one may be. ``fraction`` stays the land's (0 at sea).
    """
    grid = coasts.grid
    shape = WaterShape.build(coasts, [code])
    cells = _near_coast(grid, land, coasts.width_km)
    res = grid.resolution_deg
    rows, cols = np.divmod(cells, grid.n_cols)
    owner = np.arange(cells.size, dtype=np.int64)
    x0, y0, size = -180.0 + cols * res, -90.0 + rows * res, res
    has_in = np.zeros(cells.size, dtype=bool)
    has_out = np.zeros(cells.size, dtype=bool)
    open_end = np.zeros(cells.size, dtype=bool)
    for level in range(levels + 1):
        touched, full = shape.classify(cells[owner], x0, y0, size)
        has_in[owner[full]] = True
        has_out[owner[~touched]] = True
        undecided = touched & ~full
        if level == levels:
            open_end[owner[undecided]] = True
            break
        keep = np.flatnonzero(undecided & ~(has_in[owner] & has_out[owner]))
        k = split * split
        owner, x0, y0 = np.repeat(owner[keep], k), np.repeat(x0[keep], k), np.repeat(y0[keep], k)
        size /= split
        j, i = np.divmod(np.tile(np.arange(k), keep.size), split)
        x0, y0 = x0 + i * size, y0 + j * size
    sea_touched = cells[has_in | open_end]
    sea_full = cells[~has_out & ~open_end & has_in]
    claim_touched: IntArray = np.asarray(np.union1d(land.touched, sea_touched), dtype=np.int64)
    fraction = np.zeros(claim_touched.size)
    fraction[np.searchsorted(claim_touched, land.touched)] = land.fraction
    claim_full: IntArray = np.asarray(np.union1d(land.full, sea_full), dtype=np.int64)
    return CellArea(claim_touched, claim_full, fraction)
