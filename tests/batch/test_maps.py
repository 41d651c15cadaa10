"""Map drawing: every country is drawn, also those whose rings cross ±180°."""

from __future__ import annotations

import re

from fleetproof.batch.maps import _Canvas, _countries, overview_svg
from fleetproof.geodata import load_country_shapes


def _xs(svg: str, code: str) -> list[float]:
    m = re.search(rf'<path d="([^"]*)" data-country="{code}"', svg)
    assert m is not None, f"{code} not drawn"
    return [float(x) for x in re.findall(r"[ML]?(-?\d+\.\d),-?\d+\.\d", m.group(1))]


def test_world_map_draws_russia_and_fiji() -> None:
    """Russia's and Fiji's rings cross ±180°; skipping them left Russia off every world map."""
    svg = overview_svg([], {}, [], load_country_shapes())
    for code in ("RU", "FJ", "US", "DE"):
        assert f'data-country="{code}"' in svg
    xs = _xs(svg, "RU")
    assert min(xs) < 900 * (30 + 180) / 360 < max(xs)  # reaches from west of the Urals ...
    assert max(xs) >= 899  # ... to the antimeridian, drawn up to the map's edge


def test_regional_map_across_the_antimeridian_draws_both_sides() -> None:
    """A view centred on 180° (Chukotka and Alaska) shows Russia west of it and the US east of it."""
    c = _Canvas(160.0, 200.0, 55.0, 75.0)
    _countries(c, load_country_shapes())
    svg = c.svg()
    ru, us = _xs(svg, "RU"), _xs(svg, "US")
    assert any(0 <= x <= 450 for x in ru) and any(450 <= x <= 900 for x in us)
