"""Load the vendored geographic data and hand it to the pure engine.

This is the only place that reads the country files; :mod:`fleetproof.geo` gets
plain objects. Loads are cached: a process pays for them once.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from fleetproof.geo.countries import CountryTable
from fleetproof.geo.grid import Grid
from fleetproof.geo.raster import CellArea
from fleetproof.geodata.population import load_population

__all__ = ["load_countries", "load_country_edges", "load_country_shapes", "load_topojson"]

CELLS_FILE = "countries-cells.json.gz"
TOPOJSON_FILE = "countries-50m.json"


def _read(name: str) -> bytes:
    return resources.files("fleetproof.data").joinpath(name).read_bytes()


@lru_cache(maxsize=1)
def load_countries() -> CountryTable:
    """Natural Earth admin-0 countries with their territorial waters as grid cells, keyed by ISO alpha-2,
    with GeoNames towns (cached)."""
    doc = json.loads(gzip.decompress(_read(CELLS_FILE)))
    grid = Grid(float(doc["resolution_deg"]))
    areas = {}
    names = {}
    for code, c in doc["countries"].items():
        touched = np.cumsum(np.asarray(c["touched"], dtype=np.int64))
        full = np.cumsum(np.asarray(c["full"], dtype=np.int64))
        fraction = np.asarray(c["fraction_permille"], dtype=np.float64) / 1000.0
        areas[code] = CellArea(touched, full, fraction)
        names[code] = str(c["name"])
    waters = float(doc.get("territorial_sea_km", 0.0))
    return CountryTable(grid, areas, names, people=load_population(), edges=_LazyEdges(), waters_km=waters)


@lru_cache(maxsize=1)
def load_topojson() -> dict[str, Any]:
    """The original world-atlas ``countries-50m.json`` document (for drawing maps)."""
    doc: dict[str, Any] = json.loads(_read(TOPOJSON_FILE))
    return doc


@lru_cache(maxsize=1)
def load_country_shapes() -> dict[str, list[list[list[list[float]]]]]:
    """Country polygons in lon/lat degrees keyed by alpha-2 (for maps and region display)."""
    from fleetproof.geodata.topojson import decode_countries

    shapes, _ = decode_countries(load_topojson())
    return shapes


@lru_cache(maxsize=1)
def load_country_edges() -> dict[str, np.ndarray]:
    """Country boundaries as edge arrays ``(E, 4)`` keyed by alpha-2 (cached)."""
    from fleetproof.geodata.topojson import decode_country_edges

    return decode_country_edges(json.loads(_read(TOPOJSON_FILE)))  # the parsed document is not kept


class _LazyEdges(Mapping[str, np.ndarray]):
    """:func:`load_country_edges`, read on first use: most verdicts never look inside a border cell."""

    def _data(self) -> dict[str, np.ndarray]:
        return load_country_edges()

    def __getitem__(self, code: str) -> np.ndarray:
        return self._data()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())
