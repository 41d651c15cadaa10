from __future__ import annotations

import numpy as np

from fleetproof.geo import CellArea, Grid, rasterize
from fleetproof.geodata import load_countries, load_country_shapes
from fleetproof.geodata.iso import NUMERIC_TO_ALPHA2


def test_polygon_with_hole() -> None:
    g = Grid(1.0)
    outer = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]]
    hole = [[3.0, 3.0], [7.0, 3.0], [7.0, 7.0], [3.0, 7.0], [3.0, 3.0]]
    a = rasterize([[outer, hole]], g)
    inside_hole = int(g.cell_of(5.5, 5.5))
    assert inside_hole not in set(a.touched.tolist())
    assert int(g.cell_of(1.5, 1.5)) in set(a.full.tolist())
    assert set(a.full.tolist()) <= set(a.touched.tolist())
    assert float(a.fraction.sum()) == 100.0 - 16.0


def test_union_of_areas() -> None:
    g = Grid(1.0)
    a = rasterize([[[[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]]]], g)
    b = rasterize([[[[10.0, 0.0], [14.0, 0.0], [14.0, 4.0], [10.0, 4.0]]]], g)
    u = CellArea.union([a, b])
    assert u.touched.size == a.touched.size + b.touched.size
    assert u.full.size == a.full.size + b.full.size


def test_iso_table_facts() -> None:
    assert NUMERIC_TO_ALPHA2["250"] == "FR"
    assert NUMERIC_TO_ALPHA2["840"] == "US"
    assert NUMERIC_TO_ALPHA2["036"] == "AU"
    assert NUMERIC_TO_ALPHA2["826"] == "GB"
    assert len(set(NUMERIC_TO_ALPHA2.values())) == len(NUMERIC_TO_ALPHA2)


def test_countries_load_and_locate_capitals() -> None:
    c = load_countries()
    assert c is load_countries()  # cached
    assert len(c.codes) > 200
    for lat, lon, code in [
        (48.86, 2.35, "FR"),
        (52.52, 13.40, "DE"),
        (39.0, -98.0, "US"),
        (-25.0, 134.0, "AU"),
    ]:
        assert c.country_at(lat, lon) == code
    assert c.country_at(0.0, -30.0) is None  # Atlantic
    us = c.areas["US"]
    assert int(c.grid.cell_of(39.0, -98.0)) in set(us.full.tolist())
    assert np.all(np.diff(us.touched) > 0)


def test_country_shapes_for_maps() -> None:
    shapes = load_country_shapes()
    assert "FR" in shapes and "XK" in shapes
    ring = shapes["FR"][0][0]
    assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in ring)
