"""The estimate's prior: where people live, and how it moves an estimate."""

from __future__ import annotations

import numpy as np

from fleetproof.geo import Landmark, Verifier, calibrate, distance_km
from fleetproof.geo.countries import CountryTable
from fleetproof.geo.estimate import population_prior
from fleetproof.geodata import load_countries
from fleetproof.geodata.population import build_population, load_population

from .test_verifier import lms, mesh, rtt_for


def test_population_file_is_the_world_s_towns() -> None:
    lat, lon, pop = load_population()
    assert lat.shape == lon.shape == pop.shape and lat.size > 10_000
    assert np.all(np.abs(lat) <= 90) and np.all(np.abs(lon) <= 180) and np.all(pop > 0)
    # GeoNames places of 15,000+ people hold a few billion people between them.
    assert 2e9 < pop.sum() < 6e9


def test_prior_prefers_cities_to_empty_land() -> None:
    countries = load_countries()
    grid = countries.grid
    prior = population_prior(countries)
    assert prior.shape == (grid.n_cells,) and np.all(np.isfinite(prior)) and np.all(prior >= 0)
    city = prior[grid.cell_of([48.86, 35.68, 40.71], [2.35, 139.69, -74.01])]  # Paris, Tokyo, New York
    empty = prior[grid.cell_of([23.0, -25.0, 75.0], [12.0, 130.0, -40.0])]  # Sahara, Outback, Greenland
    assert np.all(city > 2.0) and np.all(empty < 0.05)
    # Smoothing: a cell next to Paris still counts, one 300 km away barely.
    assert prior[grid.cell_of(49.4, 2.35)] > 0.5 * city[0]
    assert prior[grid.cell_of(51.5, 2.35)] < 0.5 * city[0]


def test_build_population_sums_per_cell_and_drops_hamlets() -> None:
    doc = build_population([(48.86, 2.35, 2_000_000), (48.80, 2.30, 50_000), (0.0, 0.0, 100)])
    assert doc["population_k"] == [2050]
    assert abs(doc["lat"][0] - 48.875) < 1e-9 and abs(doc["lon"][0] - 2.375) < 1e-9


def test_estimate_lands_on_the_city_the_rtts_fit() -> None:
    """A host in Lyon measured by the European mesh is placed near Lyon, not in the countryside."""
    countries = load_countries()
    v = Verifier(lms(), countries, model=calibrate(lms(), mesh(), countries=countries))
    lat, lon = 45.76, 4.84
    row = v.rtt_row({lm.id: rtt_for(lat, lon, lm) for lm in lms()})
    [res] = v.verify_matrix(["lyon"], row[None, :], [])
    e = res.estimate
    assert float(distance_km(e.lat, e.lon, lat, lon)) < 150
    assert e.country == "FR"


def test_a_country_table_without_towns_has_a_flat_population_prior() -> None:
    full = load_countries()
    bare = CountryTable(full.grid, full.areas, full.names)
    assert not np.any(population_prior(bare))
    v = Verifier(lms(), bare, model=calibrate(lms(), mesh(), countries=bare))
    row = v.rtt_row({lm.id: rtt_for(45.76, 4.84, lm) for lm in lms()})
    [res] = v.verify_matrix(["lyon"], row[None, :], [])
    assert float(distance_km(res.estimate.lat, res.estimate.lon, 45.76, 4.84)) < 300


def test_estimates_are_unchanged_without_countries() -> None:
    """Without a country table there is no grid to place people on: the prior is flat."""
    v = Verifier([Landmark(i.id, i.lat, i.lon) for i in lms()], None, model=calibrate(lms(), mesh()))
    row = v.rtt_row({lm.id: rtt_for(45.76, 4.84, lm) for lm in lms()})
    [res] = v.verify_matrix(["lyon"], row[None, :], [])
    assert np.isfinite(res.estimate.lat) and res.estimate.country is None
