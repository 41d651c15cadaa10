"""The planner's parts on their own: doctests, the bundled metros, zones files, boundary distances."""

from __future__ import annotations

import csv
import doctest
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from fleetproof.geodata import load_countries, load_country_edges
from fleetproof.plan.greedy import greedy_cover
from fleetproof.plan.inputs import read_zones
from fleetproof.plan.metros import MIN_POPULATION, build_metros, metros_path
from fleetproof.plan.zones import Zone, ZoneGeometry

from .conftest import Planned


@pytest.mark.parametrize("name", ["model", "zones", "greedy"])
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"fleetproof.plan.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_bundled_metros() -> None:
    with open(metros_path(), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1290
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["country"] for r in rows}) == 244
    pops = [int(r["population"]) for r in rows]
    assert pops == sorted(pops, reverse=True)
    big = [r for r in rows if int(r["population"]) >= MIN_POPULATION]
    assert len(big) > 1000
    assert any(r["id"] == "frankfurt-am-main-de" for r in rows)


def test_build_metros_keeps_big_places_and_each_countrys_largest() -> None:
    places = [
        {"name": "Big Town", "lat": 1.0, "lon": 2.0, "country": "AA", "population": 600_000},
        {"name": "Small", "lat": 1.5, "lon": 2.5, "country": "AA", "population": 20_000},
        {"name": "Capitâl", "lat": 3.0, "lon": 4.0, "country": "BB", "population": 90_000},
        {"name": "Village", "lat": 3.5, "lon": 4.5, "country": "BB", "population": 16_000},
    ]
    rows = list(csv.DictReader(build_metros(places).splitlines()))
    assert [r["id"] for r in rows] == ["big-town-aa", "capital-bb"]


def test_zones_file_in_the_admin_apis_shape(tmp_path: Path) -> None:
    region = {"type": "Polygon", "coordinates": [[[7, 49], [10, 49], [10, 51], [7, 51], [7, 49]]]}
    doc = {
        "zones": [
            {"id": "eu", "description": "d", "site_name": None, "allowed_countries": ["de", "at"]},
            {"id": "rm", "allowed_region": region, "allowed_countries": []},
            {"id": "dc", "site_lat": 50.1, "site_lon": 8.6},
        ]
    }
    path = tmp_path / "z.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    zones = read_zones(path)
    assert zones["eu"].countries == ("AT", "DE") and zones["eu"].kind == "countries"
    assert zones["rm"].kind == "region"
    assert zones["dc"].kind == "point" and zones["dc"].site == (50.1, 8.6)


def test_outer_border_of_several_countries_leaves_out_the_shared_one() -> None:
    countries, edges = load_countries(), load_country_edges()
    munich = (np.array([48.14]), np.array([11.58]))
    de = ZoneGeometry.of(Zone("de", ("DE",)), countries.grid, edges)
    dach = ZoneGeometry.of(Zone("dach", ("DE", "AT", "CH")), countries.grid, edges)
    assert de is not None and dach is not None
    to_austria = float(de.border_km(*munich)[0])
    assert 40 < to_austria < 80  # Munich to the Austrian border
    assert 100 < float(dach.border_km(*munich)[0]) < 160  # to the Czech border instead
    assert dach.inside(*munich)[0] and de.inside(*munich)[0]
    assert not de.inside(np.array([48.2]), np.array([16.37]))[0]  # Vienna


def test_greedy_prefers_the_place_that_serves_most() -> None:
    # Site 0 fits places 0 and 1, sites 1–3 fit place 1 only: two landmarks at place 1 serve all.
    cover = greedy_cover(2, np.array([0, 0, 1, 2, 3]), np.array([0, 1, 1, 1, 1]), np.array([2, 2, 2, 2]), 2)
    assert cover.count.tolist() == [0, 2]
    assert cover.demand_left.tolist() == [0, 0, 0, 0]
    assert cover.served_by[0] == [1, 1]


def test_forked_workers_give_the_same_plan(monkeypatch: pytest.MonkeyPatch, planned: Planned) -> None:
    from fleetproof.plan import parallel
    from fleetproof.plan.core import make_plan

    from .conftest import CANDIDATES, LANDMARKS, SITES, ZONES

    monkeypatch.setattr(parallel, "SERIAL_BELOW", 1)
    forked = make_plan(
        SITES,
        ZONES,
        LANDMARKS,
        CANDIDATES,
        planned.countries,
        load_country_edges(),
        runner=parallel.fork_runner(2),
    )
    assert forked.sites == planned.plan.sites
    assert forked.added == planned.plan.added
