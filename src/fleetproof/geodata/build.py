"""Rebuild the engine-ready country cells from the vendored world-atlas TopoJSON.

Run ``python -m fleetproof.geodata.build`` after replacing ``countries-50m.json``;
it writes ``countries-cells.json.gz`` next to it. The derived file is committed
so that loading countries at run time costs milliseconds, not a rasterisation.

Each country's cells are its claim: its land (Natural Earth's polygon) and its waters,
the sea within 12 nautical miles of its coast where no other country's land is nearer
(:mod:`fleetproof.geo.waters`). ``fraction_permille`` is the share of each cell that is the
country's land (0 for a cell of waters only): estimates weigh land, verdicts the claim.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fleetproof.files import atomic_open
from fleetproof.geo.grid import Grid
from fleetproof.geo.raster import rasterize
from fleetproof.geo.waters import TERRITORIAL_SEA_KM, Coasts, with_waters
from fleetproof.geodata.topojson import decode_countries, decode_country_edges

RESOLUTION_DEG = 0.5
SUBSAMPLE = 5
CELLS_FILE = "countries-cells.json.gz"


def _deltas(cells: np.ndarray) -> list[int]:
    out: list[int] = np.diff(np.concatenate([[0], cells])).astype(int).tolist()
    return out


def build(topo: dict[str, Any]) -> dict[str, Any]:
    """The derived document: per alpha-2 code, delta-coded touched/full cells and per-mille land fractions."""
    grid = Grid(RESOLUTION_DEG)
    shapes, names = decode_countries(topo)
    land = {code: rasterize(shapes[code], grid, SUBSAMPLE, cut=True) for code in sorted(shapes)}
    coasts = Coasts.build(grid, decode_country_edges(topo), {code: a.touched for code, a in land.items()})
    countries = {}
    for code in sorted(shapes):
        area = with_waters(coasts, code, land[code])
        countries[code] = {
            "name": names[code],
            "touched": _deltas(area.touched),
            "fraction_permille": np.round(area.fraction * 1000).astype(int).tolist(),
            "full": _deltas(area.full),
        }
    return {
        "format": 2,
        "source": "world-atlas@2 countries-50m.json (Natural Earth 1:50m admin-0)",
        "resolution_deg": RESOLUTION_DEG,
        "subsample": SUBSAMPLE,
        "territorial_sea_km": TERRITORIAL_SEA_KM,
        "countries": countries,
    }


def main() -> None:
    data_dir = Path(str(resources.files("fleetproof.data")))
    topo = json.loads((data_dir / "countries-50m.json").read_text(encoding="utf-8"))
    doc = build(topo)
    raw = gzip.compress(json.dumps(doc, separators=(",", ":")).encode("utf-8"), compresslevel=9, mtime=0)
    with atomic_open(data_dir / CELLS_FILE, binary=True, mode=0o644) as fh:
        fh.write(raw)
    print(f"wrote {data_dir / CELLS_FILE}: {len(doc['countries'])} countries")


if __name__ == "__main__":
    main()
