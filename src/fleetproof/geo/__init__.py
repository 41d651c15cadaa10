"""fleetproof's location-verification engine: pure, vectorised, no I/O.

Landmarks at known positions, round-trip times (RTTs) and claims go in;
verdicts, estimates and evidence come out. The batch CLI (``fleetproof
verify``) and the fleet server both call it; data files are loaded by
:mod:`fleetproof.geodata`.

Public API (stable):

- geometry — :func:`distance_km`, :data:`EARTH_RADIUS_KM`, :class:`Grid`, :class:`CellArea`, :func:`rasterize`
- physics — :class:`SpeedModel` (``v_max_km_per_ms`` = 2/3 c, ``allowance_ms`` = 0 by default)
- inputs — :class:`Landmark`, :class:`MeshLink`, :class:`Claim` (point, countries, GeoJSON region)
- vetting — :func:`vet_landmarks` → :class:`VettingReport` (``trusted``, ``quarantined``, ``to_json()``)
- calibration — :func:`calibrate` → :class:`DelayModel` (``to_json()`` / ``from_json()``)
- verification — :class:`Verifier` (``verify(rtts, claims)`` for one target, ``verify_matrix`` for many,
  ``region(rtts)`` → :class:`FeasibleRegion` with ``to_geojson()``), :class:`Result`, :class:`Estimate`
- countries — :class:`CountryTable` (load the bundled one with ``fleetproof.geodata.load_countries()``)

>>> from fleetproof.geo import Landmark, Verifier, Claim
>>> v = Verifier([Landmark("a", 0.0, 0.0), Landmark("b", 0.0, 10.0), Landmark("c", 10.0, 5.0)])
>>> r = v.verify({"a": 12.0, "b": 12.0, "c": 12.0}, [Claim.point("x", "t", 60.0, 100.0)])[0]
>>> r.verdict, r.evidence["contradicting_count"]
('violation', 3)
"""

from __future__ import annotations

from fleetproof.geo.calibrate import calibrate
from fleetproof.geo.claims import Claim, geojson_polygons
from fleetproof.geo.countries import CountryTable
from fleetproof.geo.grid import Grid
from fleetproof.geo.landmarks import Landmark, LandmarkSet, MeshLink
from fleetproof.geo.model import DelayModel
from fleetproof.geo.raster import CellArea, rasterize
from fleetproof.geo.region import FeasibleRegion, feasible_cells
from fleetproof.geo.speed import SpeedModel
from fleetproof.geo.sphere import EARTH_RADIUS_KM, distance_km
from fleetproof.geo.verdict import Estimate, Result, Verdict, Verifier
from fleetproof.geo.vetting import Conflict, Quarantined, VettingReport, vet_landmarks

__all__ = [
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
]
