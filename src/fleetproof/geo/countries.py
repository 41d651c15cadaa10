"""Countries as grid cells: what verdicts and country estimates need, nothing more.

A :class:`CountryTable` holds, for each ISO 3166 alpha-2 code, its
:class:`~fleetproof.geo.raster.CellArea` on one :class:`~fleetproof.geo.grid.Grid`,
and derives per-cell lookups: the country covering most of each cell and the
land fraction (a prior for estimates: hosts sit on land). A country's area may include its
territorial waters (``waters_km``; see :mod:`fleetproof.geo.waters`): verdicts read the
areas, estimates the land fractions. It may carry where
people live (towns with their populations, another prior for estimates). It is built from
plain data, so the engine never reads a file; ``fleetproof.geodata`` loads the
vendored Natural Earth set into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetproof.geo.grid import Grid
from fleetproof.geo.raster import CellArea
from fleetproof.geo.waters import Coasts

__all__ = ["CountryTable"]


@dataclass(frozen=True)
class CountryTable:
    """Country areas on a grid, keyed by ISO alpha-2 (upper case)."""

    grid: Grid
    areas: Mapping[str, CellArea]
    names: Mapping[str, str] = field(default_factory=dict)
    #: Towns as (lat °, lon °, population) arrays, for the estimate's population prior; None: no such prior.
    people: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = field(
        default=None, repr=False, compare=False
    )
    #: Country boundaries as edge arrays (E, 4) of ``x1, y1, x2, y2`` in lon/lat degrees, for refining
    #: verdicts inside border cells (:mod:`fleetproof.geo.refine`); None: cells only.
    edges: Mapping[str, npt.NDArray[np.float64]] | None = field(default=None, repr=False, compare=False)
    #: Width (km) of the territorial sea that ``areas`` include beyond the land (0: land only). With
    #: ``edges``, refinement then decides on the same rule (:mod:`fleetproof.geo.waters`).
    waters_km: float = 0.0
    codes: tuple[str, ...] = field(init=False)
    cell_country: npt.NDArray[np.int16] = field(init=False, repr=False, compare=False)
    cell_country_fraction: npt.NDArray[np.float64] = field(init=False, repr=False, compare=False)
    cell_land_fraction: npt.NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = tuple(sorted(self.areas))
        object.__setattr__(self, "codes", codes)
        n = self.grid.n_cells
        best = np.full(n, -1, dtype=np.int16)
        best_frac = np.zeros(n)
        land = np.zeros(n)
        for k, code in enumerate(codes):
            a = self.areas[code]
            land[a.touched] += a.fraction
            better = a.fraction > best_frac[a.touched]
            best[a.touched[better]] = k
            best_frac[a.touched[better]] = a.fraction[better]
        object.__setattr__(self, "cell_country", best)
        object.__setattr__(self, "cell_country_fraction", best_frac)
        object.__setattr__(self, "cell_land_fraction", np.minimum(land, 1.0))

    def area(self, codes: Iterable[str]) -> CellArea:
        """Union of the areas of several countries; unknown codes raise ``KeyError``."""
        parts = []
        for code in codes:
            key = code.strip().upper()
            if key not in self.areas:
                raise KeyError(f"unknown country code {code!r}")
            parts.append(self.areas[key])
        return CellArea.union(parts)

    def coasts(self) -> Coasts | None:
        """Every country's edges indexed for distances to coasts, when the areas include waters (cached)."""
        if self.waters_km <= 0 or self.edges is None:
            return None
        cached = self.__dict__.get("_coasts")
        if cached is None:
            touched = {code: a.touched for code, a in self.areas.items()}
            cached = Coasts.build(self.grid, dict(self.edges), touched, self.waters_km)
            object.__setattr__(self, "_coasts", cached)
        return cached

    def territory_cells(self) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.bool_]]:
        """Per grid cell: the country whose area holds all of it (index into ``codes``, −1: none),
        and whether any country's area meets it (cached)."""
        cached = self.__dict__.get("_territory_cells")
        if cached is None:
            owner = np.full(self.grid.n_cells, -1, dtype=np.int16)
            claimed = np.zeros(self.grid.n_cells, dtype=bool)
            for k, code in enumerate(self.codes):
                owner[self.areas[code].full] = k
                claimed[self.areas[code].touched] = True
            cached = (owner, claimed)
            object.__setattr__(self, "_territory_cells", cached)
        return cached[0], cached[1]

    def country_at(self, lat_deg: float, lon_deg: float) -> str | None:
        """Country that covers most of the cell holding a point, or ``None`` at sea."""
        k = int(self.cell_country[int(self.grid.cell_of(lat_deg, lon_deg))])
        return None if k < 0 else self.codes[k]
