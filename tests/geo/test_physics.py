from __future__ import annotations

import numpy as np
import pytest

from fleetproof.geo import EARTH_RADIUS_KM, Grid, SpeedModel, distance_km
from fleetproof.geo.sphere import angle_between, unit_vectors


def test_distance_known_pairs() -> None:
    # New York - London is about 5570 km on the sphere.
    assert float(distance_km(40.7128, -74.0060, 51.5074, -0.1278)) == pytest.approx(5570, abs=10)
    assert float(distance_km(10, 20, 10, 20)) == 0.0
    assert float(distance_km(90, 0, -90, 0)) == pytest.approx(np.pi * EARTH_RADIUS_KM)


def test_angle_between_is_stable_for_tiny_angles() -> None:
    a = unit_vectors(45.0, 10.0)
    b = unit_vectors(45.0, 10.0 + 1e-7)
    km = float(angle_between(a, b)) * EARTH_RADIUS_KM
    assert km == pytest.approx(float(distance_km(45.0, 10.0, 45.0, 10.0 + 1e-7)), rel=1e-3)


def test_speed_bound_defaults_and_allowance() -> None:
    s = SpeedModel()
    assert float(s.max_distance_km(1.0)) == pytest.approx(99.93, abs=0.01)
    assert float(SpeedModel(allowance_ms=3.0).max_distance_km(2.0)) == 0.0
    assert float(SpeedModel(100.0, 1.0).max_distance_km(11.0)) == pytest.approx(500.0)
    # The angular bound is widened for the sphere's error, never narrowed.
    assert float(s.max_angle_rad(10.0)) * EARTH_RADIUS_KM > float(s.max_distance_km(10.0))
    assert float(s.max_angle_rad(1e6)) == pytest.approx(np.pi)


@pytest.mark.parametrize(
    "kwargs", [{"v_max_km_per_ms": 0.0}, {"allowance_ms": -1.0}, {"v_max_km_per_ms": np.nan}]
)
def test_speed_model_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SpeedModel(**kwargs)


def test_grid_margin_covers_every_point_of_a_cell() -> None:
    g = Grid(0.5)
    rng = np.random.default_rng(3)
    lat = rng.uniform(-89.9, 89.9, 2000)
    lon = rng.uniform(-180, 179.99, 2000)
    cells = g.cell_of(lat, lon)
    ang = np.arccos(np.clip(np.sum(g.centers[cells] * unit_vectors(lat, lon), axis=1), -1, 1))
    assert np.all(ang <= g.cell_margin(cells))


def test_cap_cells_holds_every_cell_near_the_centre() -> None:
    g = Grid(1.0)
    for lat, lon, r_deg in [(0.0, 179.0, 10.0), (80.0, 0.0, 15.0), (-45.0, -100.0, 3.0)]:
        cells = set(g.cap_cells(lat, lon, np.radians(r_deg)).tolist())
        centre = unit_vectors(lat, lon)
        ang = np.degrees(np.arccos(np.clip(g.centers @ centre, -1, 1)))
        near = np.flatnonzero(ang <= r_deg)
        assert set(near.tolist()) <= cells
