"""Rebuild the engine-ready country cells from the vendored world-atlas TopoJSON.

Run ``python -m fleetproof.geodata.build`` after replacing ``countries-50m.json``;
it writes ``countries-cells.json.gz`` next to it. The derived file is committed
so that loading countries at run time costs milliseconds, not a rasterisation.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fleetproof.geo.grid import Grid
from fleetproof.geo.raster import rasterize
from fleetproof.geodata.topojson import decode_countries

RESOLUTION_DEG = 0.5
SUBSAMPLE = 5
CELLS_FILE = "countries-cells.json.gz"


def _deltas(cells: np.ndarray) -> list[int]:
    out: list[int] = np.diff(np.concatenate([[0], cells])).astype(int).tolist()
    return out


def build(topo: dict[str, Any]) -> dict[str, Any]:
    """The derived document: per alpha-2 code, delta-coded touched/full cells and per-mille fractions."""
    grid = Grid(RESOLUTION_DEG)
    shapes, names = decode_countries(topo)
    countries = {}
    for code in sorted(shapes):
        area = rasterize(shapes[code], grid, SUBSAMPLE, cut=True)
        countries[code] = {
            "name": names[code],
            "touched": _deltas(area.touched),
            "fraction_permille": np.round(area.fraction * 1000).astype(int).tolist(),
            "full": _deltas(area.full),
        }
    return {
        "format": 1,
        "source": "world-atlas@2 countries-50m.json (Natural Earth 1:50m admin-0)",
        "resolution_deg": RESOLUTION_DEG,
        "subsample": SUBSAMPLE,
        "countries": countries,
    }


def main() -> None:
    data_dir = Path(str(resources.files("fleetproof.data")))
    topo = json.loads((data_dir / "countries-50m.json").read_text(encoding="utf-8"))
    doc = build(topo)
    with gzip.open(data_dir / CELLS_FILE, "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump(doc, fh, separators=(",", ":"))
    print(f"wrote {data_dir / CELLS_FILE}: {len(doc['countries'])} countries")


if __name__ == "__main__":
    main()
