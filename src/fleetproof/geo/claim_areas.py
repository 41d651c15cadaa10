"""The places a country or region claim names, rasterised once and kept for every later claim.

A fleet makes the same few claims over and over (a country, a data-centre region), so the
claim's cells, its cells grouped in blocks, its exact boundary and its place in the area-keyed
indexes of the batched path are built on first need and cached per country set or region.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fleetproof.geo.claims import Claim, geojson_polygons
from fleetproof.geo.countries import CountryTable
from fleetproof.geo.grid import Grid
from fleetproof.geo.raster import CellArea, disjoint_groups, polygon_edges, rasterize
from fleetproof.geo.refine import Boundary, Shape
from fleetproof.geo.region import BlockedCells
from fleetproof.geo.waters import WaterShape

__all__ = ["ClaimAreas"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class ClaimAreas:
    """Per claimed area (country set or region): its cells, blocks, boundary and index number."""

    def __init__(self, grid: Grid, countries: CountryTable | None) -> None:
        self.grid = grid
        self.countries = countries
        self._areas: dict[object, tuple[CellArea, BlockedCells]] = {}
        self._shapes: dict[object, tuple[Boundary, ...] | None] = {}
        self._country_shapes: dict[str, Shape] = {}
        self._keys: dict[object, int] = {}
        self._index: tuple[int, IntArray, IntArray] = (0, np.zeros(0, np.int64), np.zeros(0, np.int64))

    @staticmethod
    def key(claim: Claim) -> object:
        """What two claims of the same area share: the sorted country set, or the region object."""
        if claim.kind == "countries":
            return ("countries", tuple(sorted(claim.countries)))
        return ("region", id(claim.region))

    @staticmethod
    def codes(claim: Claim) -> list[str] | None:
        """The claimed country codes, normalised; ``None`` for a region."""
        return [code.strip().upper() for code in claim.countries] if claim.kind == "countries" else None

    def area(self, claim: Claim) -> tuple[CellArea, BlockedCells]:
        """The claim's cells, and the same grouped in blocks; cached per country set or region."""
        key = self.key(claim)
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

    def shape(self, claim: Claim) -> tuple[Boundary, ...] | None:
        """The claim's boundary for refinement, built on first need; None where only cells are known."""
        key = self.key(claim)
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

    def ids(self, claims: Sequence[Claim]) -> tuple[IntArray, IntArray, IntArray]:
        """A number per claimed area; sorted ``area * n_cells + cell`` keys of touched and of full cells."""
        ids = np.empty(len(claims), dtype=np.int64)
        for k, c in enumerate(claims):
            key = self.key(c)
            if key not in self._keys:
                self.area(c)
                self._keys[key] = len(self._keys)
            ids[k] = self._keys[key]
        done, touched, full = self._index
        if done != len(self._keys):  # append the new areas: numbered in order, so still sorted
            n = self.grid.n_cells
            new = [(k * n, self._areas[key][0]) for key, k in self._keys.items() if k >= done]
            touched = np.concatenate([touched, *(base + a.touched for base, a in new)])
            full = np.concatenate([full, *(base + a.full for base, a in new)])
            self._index = (len(self._keys), touched, full)
        return ids, self._index[1], self._index[2]

    def inside(
        self, claims: Sequence[Claim], owner: IntArray, points: IntArray, lat: FloatArray, lon: FloatArray
    ) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Of ``points`` (indices into ``lat``/``lon``, each of claim ``owner[k]``), those whose claim has a
        known boundary, and whether each lies inside its claim (exact polygon test, grouped by area)."""
        groups: dict[object, list[int]] = {}
        for k in points.tolist():
            groups.setdefault(self.key(claims[int(owner[k])]), []).append(k)
        sels, ins = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=bool)]
        for ks in groups.values():
            parts = self.shape(claims[int(owner[ks[0]])])
            if parts is not None:
                sel = np.array(ks, dtype=np.int64)
                sels.append(sel)
                ins.append(np.any([p.inside(lon[sel], lat[sel]) for p in parts], axis=0))
        return np.concatenate(sels), np.concatenate(ins).astype(bool)
