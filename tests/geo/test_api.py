"""The engine's public surface is a contract with the server and the dashboard: pin it."""

from __future__ import annotations

import fleetproof.geo as geo

EXPECTED = {
    "EARTH_RADIUS_KM",
    "CellArea",
    "Claim",
    "Conflict",
    "CountryTable",
    "DelayModel",
    "Estimate",
    "FeasibleRegion",
    "Grid",
    "Landmark",
    "LandmarkSet",
    "MeshLink",
    "Quarantined",
    "Result",
    "SpeedModel",
    "Verdict",
    "Verifier",
    "VettingReport",
    "calibrate",
    "distance_km",
    "feasible_cells",
    "geojson_polygons",
    "rasterize",
    "vet_landmarks",
}


def test_public_names_are_pinned() -> None:
    assert set(geo.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(geo, name), name


def test_every_public_name_is_documented_in_the_module_docstring() -> None:
    doc = geo.__doc__ or ""
    for name in ("SpeedModel", "Landmark", "Claim", "vet_landmarks", "calibrate", "Verifier", "CountryTable"):
        assert name in doc
