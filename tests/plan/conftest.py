"""A small fleet in western Europe, planned once per session (the engine is the slow part)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fleetproof.geo import CountryTable, Landmark
from fleetproof.geodata import load_countries, load_country_edges
from fleetproof.plan.core import Plan, Site, make_plan
from fleetproof.plan.zones import Zone

#: A square region around Frankfurt (an operator region instead of countries).
RHINE_MAIN = {
    "type": "Polygon",
    "coordinates": [[[7.4, 49.3], [10.0, 49.3], [10.0, 51.0], [7.4, 51.0], [7.4, 49.3]]],
}

LANDMARKS = [
    Landmark("fra-1", 50.11, 8.68),
    Landmark("fra-2", 50.12, 8.70),
    Landmark("ber-1", 52.52, 13.40),
    Landmark("par-1", 48.86, 2.35),
    Landmark("lon-1", 51.51, -0.13),
    Landmark("mad-1", 40.42, -3.70),
]
CANDIDATES = [
    Landmark("berlin", 52.52, 13.40),
    Landmark("munich", 48.14, 11.58),
    Landmark("paris", 48.86, 2.35),
    Landmark("lyon", 45.76, 4.84),
    Landmark("madrid", 40.42, -3.70),
    Landmark("strasbourg", 48.58, 7.75),
]
ZONES = {
    "de": Zone("de", ("DE",)),
    "fr": Zone("fr", ("FR",)),
    "es": Zone("es", ("ES",)),
    "dach": Zone("dach", ("AT", "CH", "DE")),
    "rhine-main": Zone("rhine-main", region=RHINE_MAIN),
    "site-only": Zone("site-only", site=(48.0, 2.0)),
    "atlantis": Zone("atlantis", ("XA",)),
}
SITES = [
    Site("s-fra", 50.10, 8.67, "de"),  # two landmarks in town: provable now
    Site("s-fra-region", 50.09, 8.66, "rhine-main"),
    Site("s-ber", 52.50, 13.35, "de"),  # one landmark in town, one more needed
    Site("s-muc", 48.15, 11.55, "dach"),  # none in town: two needed
    Site("s-par", 48.85, 2.30, "fr"),
    Site("s-lyon", 45.75, 4.85, "fr"),
    Site("s-mad", 40.40, -3.68, "es"),
    Site("s-karlsruhe", 49.00, 8.20, "de"),  # 6 km from France
    Site("s-paris-in-de", 48.86, 2.35, "de"),  # outside its zone
    Site("s-unknown", 50.0, 8.0, "nowhere"),
    Site("s-point", 48.0, 2.0, "site-only"),
    Site("s-kassel", 51.31, 9.48, "de"),  # inland, no candidate near enough
    Site("s-atlantis", 30.0, -30.0, "atlantis"),  # a country the engine does not know
]


@dataclass(frozen=True)
class Planned:
    plan: Plan
    countries: CountryTable


@pytest.fixture(scope="session")
def planned() -> Planned:
    countries = load_countries()
    plan = make_plan(SITES, ZONES, LANDMARKS, CANDIDATES, countries, load_country_edges())
    return Planned(plan, countries)
