"""What stands between a ``consistent`` area claim and ``proven``: the part of the region outside it.

A claim is ``proven`` when the whole tolerant feasible region lies inside it. When it is
not, an operator wants to know why: the region reaches the open sea (no country's
territory), or a named neighbouring country, or the landmarks are too far for any
verdict finer than hundreds of kilometres. :func:`blocked_by` answers from a sample of
the region — its grid cells' centres (every cell of a small region, an even spread of a
large one) and, in a tight region, the 4×4 sub-cell centres of the cells that are not
wholly inside the claim — each kept only if it is exactly a place of the tolerant region,
then sorted into inside the claim, a country's territory, or sea. Shares are of the
sample's area (cells weighted by ``cos φ``), so they estimate how much of the region lies
where; they are evidence for a person, never part of a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fleetproof.geo.countries import CountryTable
from fleetproof.geo.grid import Grid, in_sorted
from fleetproof.geo.raster import CellArea
from fleetproof.geo.refine import Boundary
from fleetproof.geo.region import surviving
from fleetproof.geo.sphere import unit_vectors
from fleetproof.geo.waters import WaterShape

__all__ = ["Territories", "blocked_by", "coarse_many"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Probe cells per side of each seed disk's box (a large region is sampled, not enumerated).
SAMPLE_SIDE = 8
#: Sub-cell centres per side looked at in a tight region's cells that are not wholly claimed ...
SUB_SIDE = 4
#: ... in this many of them at most (evenly spread); the others count by their centres.
SUB_CELLS = 24
#: Parts named one by one (the largest); further countries are summed into one entry.
MAX_ENTRIES = 8
#: Shares are reported to this many decimals; smaller parts are left out.
DIGITS = 3
#: Points of a sample in cells shared by several areas tested against boundaries, at most.
TERRITORY_EXACT = 48
#: What :class:`Territories` says without a country table: outside the claim, nobody known.
UNKNOWN = ""

#: ``(lat, lon, cell, exact) → ISO code or None`` per point: whose territory (land or waters) it is;
#: ``exact`` false: by its cell alone.
Territory = Callable[[FloatArray, FloatArray, IntArray, bool], list[str | None]]


class Territories:
    """Whose territory (land, or waters where the table has them) points are in: a :data:`Territory`.

    A cell wholly in one country's area, or in none, answers for its points; in the others
    (``exact``) up to ``TERRITORY_EXACT`` points are tested against the countries' boundaries,
    the rest go to the country holding most of their cell's land (the shares are estimates).
    """

    def __init__(self, countries: CountryTable | None) -> None:
        self.countries = countries
        self._shapes: dict[str, WaterShape] = {}

    def __call__(self, lat: FloatArray, lon: FloatArray, cells: IntArray, exact: bool) -> list[str | None]:
        c = self.countries
        if c is None:  # no country table: outside the claim, but whose is not known
            return [UNKNOWN] * lat.size
        owner, claimed = c.territory_cells()
        k = owner[cells].astype(np.int64)
        border = np.flatnonzero((k < 0) & claimed[cells])
        k[border] = c.cell_country[cells[border]]
        coasts = c.coasts() if exact else None
        tested = border[:: max(1, -(-border.size // TERRITORY_EXACT))]
        if coasts is not None and tested.size:
            index = {code: i for i, code in enumerate(c.codes)}
            k[tested] = -1
            which, country = coasts.others_at(cells[tested], np.zeros(len(coasts.codes), dtype=bool))
            for j in np.unique(country).tolist():
                sel = tested[which[country == j]]
                sel = sel[k[sel] < 0]
                code = coasts.codes[j]
                if code not in self._shapes:
                    self._shapes[code] = WaterShape.build(coasts, [code])
                hit = sel[self._shapes[code].inside(lon[sel], lat[sel])]
                k[hit] = index.get(code, -1)
        return [c.codes[j] if j >= 0 else None for j in k.tolist()]


def _sample(
    grid: Grid, vecs: FloatArray, rad: FloatArray, tolerance: int, fine: bool
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Cells from a sparse probe of the seed disks' boxes: (cells, centre lat, centre lon).

    ``fine``: only the region's cells (a cell may hold places of the region while its centre is
    none, and its sub-cells are looked at). Otherwise every probe cell: only centres count then,
    and the caller tests each exactly.
    """
    seeds = min(tolerance + 1, rad.size)
    parts = []
    for k in range(seeds):
        seed_lat = float(np.degrees(np.arcsin(np.clip(vecs[k, 2], -1.0, 1.0))))
        seed_lon = float(np.degrees(np.arctan2(vecs[k, 1], vecs[k, 0])))
        side = 2 * float(np.degrees(rad[k])) / grid.resolution_deg
        stride = max(1, int(side / SAMPLE_SIDE))
        parts.append(grid.cap_cells(seed_lat, seed_lon, float(rad[k]), stride=stride))
    cells = np.unique(np.concatenate(parts))
    if fine:
        cells = surviving(grid, cells, vecs, rad, tolerance)[0]
    lat, lon = grid.center_latlon(cells)
    return cells, lat, lon


def blocked_by(
    grid: Grid,
    area: CellArea,
    shapes: Sequence[Boundary] | None,
    territory: Territory,
    vecs: FloatArray,
    rad: FloatArray,
    tolerance: int,
    fine: bool,
    tightest_km: float,
    codes: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The parts of the tolerant region outside the claim, largest first.

    ``area``/``shapes`` are the claim's cells and boundary (``None``: cells only), ``vecs``/``rad``
    the disks, tightest first, ``tightest_km`` the smallest bound (km). ``fine``: the region is
    tight enough for refinement, so sub-cell centres of its border cells are looked at too, and
    points in cells shared by several areas are tested against boundaries; otherwise such a point
    counts by its cell (as ``territory`` says without ``exact``; inside when that is one of the
    claim's ``codes``, or always for a claim that names no countries).

    Entries: ``{"kind": "country", "country": code, "share": s}``, ``{"kind": "sea", "share": s}``,
    ``{"kind": "outside", "share": s}`` (a region claim checked without a country table),
    ``{"kind": "other_countries", "count": n, "share": s}`` (beyond the 8 largest parts), and
    ``{"kind": "landmarks", "tightest_bound_km": b}`` when the region is too large for refinement
    to look inside cells (``fine`` false) or no place outside the claim turned up. (When the sample
    finds none in a tight region, :class:`~fleetproof.geo.area_verdicts.AreaVerdicts` adds
    ``{"kind": "place", "lat": φ, "lon": λ, "country": code or None (sea)}``, a place of the region
    outside the claim that refinement found, where one exists.)
    """
    out: list[dict[str, Any]] = []
    seeds = min(tolerance + 1, rad.size)
    if seeds and rad[seeds - 1] < np.pi:
        cells, lat, lon = _sample(grid, vecs, rad, tolerance, fine)
        weight = np.cos(np.radians(lat))
        if fine:
            border = np.flatnonzero(~in_sorted(area.full, cells))
            border = border[:: max(1, -(-border.size // SUB_CELLS))]
            off = ((np.arange(SUB_SIDE) + 0.5) / SUB_SIDE - 0.5) * grid.resolution_deg
            sy, sx = (a.ravel() for a in np.meshgrid(off, off, indexing="ij"))
            keep = np.ones(cells.size, dtype=bool)
            keep[border] = False
            lat = np.concatenate([lat[keep], (lat[border, None] + sy).ravel()])
            lon = np.concatenate([lon[keep], (lon[border, None] + sx).ravel()])
            weight = np.concatenate([weight[keep], np.repeat(weight[border] / sy.size, sy.size)])
            cells = np.concatenate([cells[keep], np.repeat(cells[border], sy.size)])
        # Only places of the tolerant region count (exact point test).
        limit = np.where(rad < np.pi, np.cos(np.minimum(rad, np.pi)), -np.inf)
        q = unit_vectors(lat, lon).reshape(-1, 3)
        ok = ((q @ vecs.T) < limit).sum(axis=1) <= tolerance
        lat, lon, weight, cells = lat[ok], lon[ok], weight[ok], cells[ok]
        inside = in_sorted(area.full, cells)
        edge = np.flatnonzero(~inside & in_sorted(area.touched, cells))
        if fine and shapes is not None and edge.size:
            hit = np.zeros(edge.size, dtype=bool)
            for shape in shapes:
                hit |= shape.inside(lon[edge], lat[edge])
            inside[edge] = hit
        elif codes is not None and edge.size:
            owner = territory(lat[edge], lon[edge], cells[edge], False)
            inside[edge] = [who in codes for who in owner]
        elif edge.size:  # no boundary known: a border cell's centre counts as inside, as it may be
            inside[edge] = True
        total = float(weight.sum())
        outside = np.flatnonzero(~inside)
        if total > 0 and outside.size:
            owners = territory(lat[outside], lon[outside], cells[outside], fine)
            shares: dict[str | None, float] = {}
            for who, w in zip(owners, weight[outside].tolist(), strict=True):
                shares[who] = shares.get(who, 0.0) + w / total
            out = _entries(list(shares), list(shares.values()))
    if not fine or not out:
        out.append({"kind": "landmarks", "tightest_bound_km": round(tightest_km, 1)})
    return out


def _entries(owners: Sequence[str | None], shares: Sequence[float]) -> list[dict[str, Any]]:
    """Entries for (territory, share) pairs: largest first, then by name; tiny ones left out, and
    countries beyond the ``MAX_ENTRIES`` largest parts summed into one ``other_countries`` entry."""
    out: list[dict[str, Any]] = []
    rest, rest_share = 0, 0.0
    for who, share in sorted(zip(owners, shares, strict=True), key=lambda kv: (-kv[1], kv[0] or "")):
        if round(share, DIGITS) <= 0:
            continue
        if len(out) >= MAX_ENTRIES and who not in (None, UNKNOWN):
            rest, rest_share = rest + 1, rest_share + share
            continue
        if who is None:
            entry: dict[str, Any] = {"kind": "sea"}
        elif who == UNKNOWN:
            entry = {"kind": "outside"}
        else:
            entry = {"kind": "country", "country": who}
        entry["share"] = round(share, DIGITS)
        out.append(entry)
    if rest:
        out.append({"kind": "other_countries", "count": rest, "share": round(rest_share, DIGITS)})
    return out


def coarse_many(
    grid: Grid,
    countries: CountryTable | None,
    full: IntArray,
    touched: IntArray,
    ids: IntArray,
    codes: Sequence[Sequence[str] | None],
    vectors: FloatArray,
    rad: FloatArray,
    tolerance: int,
    tightest_km: FloatArray,
) -> list[list[dict[str, Any]]]:
    """:func:`blocked_by` for many claims whose regions are too large to refine, in a few numpy calls.

    Every place is judged by its cell, so a sample needs no boundary. ``full``/``touched`` are
    sorted ``area * n_cells + cell`` keys and ``ids`` each claim's area; ``codes`` each claim's
    countries (``None``: a region). ``vectors`` (L, 3) are all landmarks, ``rad`` (M, L) each
    claim's disks in landmark order (``inf``: not measured), ``tightest_km`` (M,) its smallest bound.
    """
    n_claims, n = rad.shape[0], grid.n_cells
    order = np.argsort(rad, axis=1, kind="stable")
    rs = np.take_along_axis(rad, order, axis=1)
    measured = np.isfinite(rad).sum(axis=1)
    seeds = np.minimum(tolerance + 1, measured)
    bounded = (seeds > 0) & (rs[np.arange(n_claims), np.maximum(seeds - 1, 0)] < np.pi)
    keys = [np.zeros(0, dtype=np.int64)]
    for k in range(tolerance + 1):
        who = np.flatnonzero(bounded & (seeds > k))
        if who.size == 0:
            break
        v = vectors[order[who, k]]
        lat = np.degrees(np.arcsin(np.clip(v[:, 2], -1.0, 1.0)))
        lon = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
        side = 2 * np.degrees(rs[who, k]) / grid.resolution_deg
        stride = np.maximum(1, np.ceil(side / SAMPLE_SIDE).astype(np.int64))
        cells, seed_of = grid.cap_cells_many(lat, lon, rs[who, k], stride)
        keys.append(who[seed_of] * n + cells)
    key = np.unique(np.concatenate(keys))
    owner, cells = key // n, key % n
    # Only places of the tolerant region count (exact point test on the centres). Such a place
    # lies in one of the seed disks, and a disk that holds every seed disk whole excludes none
    # of them: each claim is tested against its other disks only.
    limit = np.where(rs < np.pi, np.cos(np.minimum(rs, np.pi)), -np.inf)
    q = grid.centers[cells]
    n_seeds = min(tolerance + 1, rad.shape[1])
    seed_v = vectors[order[:, :n_seeds]]  # (M, S, 3)
    to_seed = np.arccos(np.clip(np.einsum("msc,mlc->msl", seed_v, vectors[order]), -1.0, 1.0))
    holds = (rs[:, None, :] >= to_seed + rs[:, :n_seeds, None] - 1e-12) | ~np.isfinite(rs[:, None, :])
    needed = ~holds.all(axis=1)  # (M, L) in each claim's order: may exclude a place of a seed disk
    width = max(int(needed.sum(axis=1).max(initial=0)), 1)
    pick = np.argsort(~needed, axis=1, kind="stable")[:, :width]  # the needed ones first, in order
    pad = np.take_along_axis(needed, pick, axis=1)
    use_v = vectors[np.take_along_axis(order, pick, axis=1)]  # (M, W, 3)
    use_limit = np.where(pad, np.take_along_axis(limit, pick, axis=1), -np.inf)
    dots = np.einsum("pc,pwc->pw", q, use_v[owner])
    count = (dots < use_limit[owner]).sum(axis=1)
    in_seed = (np.einsum("pc,psc->ps", q, seed_v[owner]) >= limit[owner, :n_seeds]).any(axis=1)
    few = measured[owner] <= tolerance  # every place is then in the region
    alive = np.flatnonzero((count <= tolerance) & (in_seed | few))
    owner, cells = owner[alive], cells[alive]
    weight = np.cos(np.radians(grid.center_latlon(cells)[0]))
    area_key = ids[owner] * n + cells
    inside = in_sorted(full, area_key)
    edge = ~inside & in_sorted(touched, area_key)
    names: tuple[str, ...] = countries.codes if countries is not None else ()
    if countries is None:
        terr = np.full(cells.size, -2, dtype=np.int64)  # outside the claim, whose unknown
        inside |= edge
    else:
        cell_owner, claimed = countries.territory_cells()
        terr = cell_owner[cells].astype(np.int64)
        shared = (terr < 0) & claimed[cells]
        terr[shared] = countries.cell_country[cells[shared]]
        index = {code: i for i, code in enumerate(names)}
        member = np.zeros((n_claims, len(names) + 1), dtype=bool)  # the last column: k = -1
        for m, cs in enumerate(codes):
            if cs is None:
                member[m] = True  # a region: a point in its border cell counts as inside, as it may be
            else:
                member[m, [index[c] for c in cs if c in index]] = True
        inside |= edge & member[owner, np.where(terr >= 0, terr, len(names))]
    total = np.bincount(owner, weights=weight, minlength=n_claims)
    out_of = np.flatnonzero(~inside)
    width = len(names) + 2
    flat = owner[out_of] * width + terr[out_of] + 2
    mass = np.bincount(flat, weights=weight[out_of], minlength=n_claims * width).reshape(n_claims, width)
    labels: list[str | None] = [UNKNOWN, None, *names]
    results = []
    for m in range(n_claims):
        entries: list[dict[str, Any]] = []
        if total[m] > 0:
            where = np.flatnonzero(mass[m])
            entries = _entries([labels[j] for j in where.tolist()], (mass[m, where] / total[m]).tolist())
        entries.append({"kind": "landmarks", "tightest_bound_km": round(float(tightest_km[m]), 1)})
        results.append(entries)
    return results
