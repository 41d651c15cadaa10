"""Great-circle geometry on a sphere of the Earth's mean radius, vectorised.

Why a sphere: every bound in fleetproof compares a distance with a radius derived
from a round-trip time, and the sphere keeps those comparisons cheap (one dot
product). The price is a small, known error against the WGS84 ellipsoid: the
great-circle distance on a sphere of radius :data:`EARTH_RADIUS_KM` differs from
the ellipsoidal geodesic by less than 0.56 %. Every test that could *exclude* a
place therefore widens the radius by :data:`DISTANCE_REL_ERROR`, so the sphere
can never turn a true place into a false exclusion.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "DISTANCE_REL_ERROR",
    "EARTH_RADIUS_KM",
    "angle_between",
    "distance_km",
    "lat_lon",
    "unit_vectors",
]

FloatArray = npt.NDArray[np.float64]

#: Mean Earth radius (IUGG), km.
EARTH_RADIUS_KM = 6371.0088
#: Upper bound on the relative error of spherical distance versus the WGS84 geodesic (rounded up).
DISTANCE_REL_ERROR = 0.006


def unit_vectors(lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> FloatArray:
    """Unit vectors (…, 3) for latitudes and longitudes in degrees.

    >>> unit_vectors(0.0, 0.0).round(6).tolist()
    [1.0, 0.0, 0.0]
    """
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def lat_lon(v: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Latitudes and longitudes in degrees of unit vectors (…, 3): the inverse of :func:`unit_vectors`.

    >>> [float(x) for x in lat_lon(unit_vectors(45.0, -90.0))]
    [45.0, -90.0]
    """
    lat = np.degrees(np.arcsin(np.clip(v[..., 2], -1.0, 1.0)))
    return lat, np.degrees(np.arctan2(v[..., 1], v[..., 0]))


def angle_between(a: FloatArray, b: FloatArray) -> FloatArray:
    """Central angle in radians between unit vectors, stable for tiny and antipodal angles.

    Uses ``atan2(|a×b|, a·b)`` rather than ``arccos(a·b)``, which loses precision near 0.
    """
    cross = np.cross(a, b)
    return np.asarray(np.arctan2(np.linalg.norm(cross, axis=-1), np.sum(a * b, axis=-1)), dtype=np.float64)


def distance_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> FloatArray:
    """Great-circle distance in km (haversine), broadcasting over its arguments.

    >>> round(float(distance_km(48.8566, 2.3522, 51.5074, -0.1278)), 1)  # Paris-London
    343.6
    >>> float(distance_km(0, 0, 0, 180)) == np.pi * EARTH_RADIUS_KM
    True
    """
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))), dtype=np.float64)
