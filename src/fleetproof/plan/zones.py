"""Zones as the server keeps them, their claims, and the room a disk has inside them.

A zone's claim is built exactly as the server builds it (``server/engine.py``): its
GeoJSON region when it has one, else its allowed countries, else its site as a point
(which the engine can never prove). The planner also needs geometry the engine does
not give: whether a place lies in a zone and how far it is from the zone's border
(the shared borders between a zone's own countries do not count). Those distances
only *propose* landmarks; every verdict in a plan is the engine's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fleetproof.geo import Claim, Grid, geojson_polygons
from fleetproof.geo.raster import cut_at_antimeridian, polygon_edges
from fleetproof.geo.refine import Shape
from fleetproof.geo.sphere import EARTH_RADIUS_KM
from fleetproof.geo.waters import Coasts, WaterShape

__all__ = ["DEEP_KM", "Zone", "ZoneGeometry", "boundary_distance_km", "waters_room_km"]

FloatArray = npt.NDArray[np.float64]
KM_PER_DEG = float(np.pi * EARTH_RADIUS_KM / 180.0)
#: Points are measured against the edges near them in groups of this many.
_CHUNK = 64


@dataclass(frozen=True)
class Zone:
    """A zone of the server: ``id`` and its policy (region, allowed countries or a site point)."""

    id: str
    countries: tuple[str, ...] = ()
    region: Mapping[str, Any] | None = field(default=None, compare=False)
    site: tuple[float, float] | None = None

    @property
    def kind(self) -> str:
        """``region``, ``countries``, ``point`` or ``none`` — the claim the server makes of it."""
        if self.region is not None:
            return "region"
        if self.countries:
            return "countries"
        return "point" if self.site is not None else "none"

    def claim(self, target: str) -> Claim | None:
        """The engine claim for a host of this zone, as the server words it (``zone:<id>``)."""
        cid = f"zone:{self.id}"
        if self.region is not None:  # validated once, where the zone was read
            return Claim(cid, target, region=self.region, region_name=self.id)
        if self.countries:
            return Claim.country(cid, target, *self.countries)
        if self.site is not None:
            return Claim.point(cid, target, *self.site)
        return None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.countries and self.region is None:
            out["countries"] = list(self.countries)
        return out


@dataclass(frozen=True)
class ZoneGeometry:
    """A zone's outline: every edge (for inside tests) and its outer border (for distances); for a
    country zone where the engine's countries include their territorial waters, those waters too."""

    shape: Shape
    border: FloatArray
    waters: WaterShape | None = None

    @staticmethod
    def of(
        zone: Zone, grid: Grid, country_edges: Mapping[str, FloatArray], coasts: Coasts | None = None
    ) -> ZoneGeometry | None:
        """The geometry of an area zone; None for a point zone or a country without known edges.

        ``coasts``: the engine's coast index (``CountryTable.coasts()``), when its country claims
        include territorial waters; a country zone then includes them as the engine's claim does.
        """
        if zone.region is not None:
            edges = cut_at_antimeridian(
                polygon_edges([ring for poly in geojson_polygons(zone.region) for ring in poly])
            )
            return ZoneGeometry(Shape.build(grid, edges), edges)
        if not zone.countries or any(c not in country_edges for c in zone.countries):
            return None
        parts = [np.asarray(country_edges[c], dtype=np.float64).reshape(-1, 4) for c in zone.countries]
        edges = np.vstack(parts)
        waters = None
        if coasts is not None and all(c.strip().upper() in coasts.codes for c in zone.countries):
            waters = WaterShape.build(coasts, zone.countries)
        return ZoneGeometry(Shape.build(grid, edges), _outer(parts), waters)

    def inside(self, lat: FloatArray, lon: FloatArray) -> npt.NDArray[np.bool_]:
        """Whether each place is in the zone's claim (with the waters, the engine's own estimate)."""
        lon, lat = np.asarray(lon, np.float64).ravel(), np.asarray(lat, np.float64).ravel()
        if self.waters is None:
            return np.asarray(self.shape.inside(lon, lat))
        out = np.zeros(lon.size, dtype=bool)
        near = np.flatnonzero(self._near_box(lat, lon))
        out[near] = self.waters.inside(lon[near], lat[near])
        return out

    def _near_box(self, lat: FloatArray, lon: FloatArray) -> npt.NDArray[np.bool_]:
        """Places within the outline's bounding box widened by more than the waters' width: no other
        place can be in the claim (a cheap test before the engine's, which looks at every country)."""
        assert self.waters is not None
        e = self.border
        if e.shape[0] == 0:
            return np.zeros(lat.size, dtype=bool)
        pad = self.waters.coasts.width_km / KM_PER_DEG + 0.1
        la0, la1 = float(np.min(e[:, [1, 3]])) - pad, float(np.max(e[:, [1, 3]])) + pad
        near = (lat >= la0) & (lat <= la1)
        top = max(abs(la0), abs(la1))
        if top < 80.0:
            lo_pad = pad / np.cos(np.radians(top))
            lo0, lo1 = float(np.min(e[:, [0, 2]])) - lo_pad, float(np.max(e[:, [0, 2]])) + lo_pad
            if lo0 > -180.0 and lo1 < 180.0:
                near &= (lon >= lo0) & (lon <= lo1)
        return np.asarray(near, dtype=bool)

    def border_km(
        self,
        lat: FloatArray,
        lon: FloatArray,
        cap_km: float = 3000.0,
        inside: npt.NDArray[np.bool_] | None = None,
    ) -> FloatArray:
        """Distance (km) from each place to what lies outside the claim, at most ``cap_km``.

        Without waters: to the outline. With them, for a place inside (see :func:`waters_room_km`):
        a lower bound on the distance to other countries' land and to the sea that is not the claim's.
        For a place outside: its distance to the land outline. ``inside``: :meth:`inside` of the
        places, where the caller has it.
        """
        land = boundary_distance_km(lat, lon, self.border, cap_km)
        if self.waters is None:
            return land
        la, lo = np.asarray(lat, np.float64).ravel(), np.asarray(lon, np.float64).ravel()
        on_land = np.asarray(self.shape.inside(lo, la))
        if inside is None:
            inside = self.inside(la, lo)
        out = land.copy()
        idx = np.flatnonzero(inside)
        out[idx] = np.minimum(waters_room_km(self.waters, la[idx], lo[idx], land[idx], on_land[idx]), cap_km)
        return out


#: Places deeper inland than this (km) skip the search for other countries' coasts: their room is their
#: distance to the outline (a lower bound, at most the waters' width short).
DEEP_KM = 200.0


def waters_room_km(
    waters: WaterShape,
    lat: FloatArray,
    lon: FloatArray,
    outline_km: FloatArray,
    on_land: npt.NDArray[np.bool_],
) -> FloatArray:
    """A lower bound (km) on the distance from places inside a claim with waters to its outside.

    With ``w`` the waters' width, ``c`` the distance to the claim's land outline (coasts and land
    borders) and ``o`` to other countries' land, a place outside the claim is other land, sea farther
    than ``w`` from the claim's land, or sea nearer another country's land than the claim's (the
    engine's rule, :mod:`fleetproof.geo.waters`). For a place on the claim's land, a path to sea
    farther than ``w`` crosses the outline, then runs at least ``w``: ``c + w``; to a sea point ``q``
    nearer other land, ``|pq| ≥ c + d(q, claim)`` and ``|pq| ≥ o − d(q, other) ≥ o − d(q, claim)``, so
    ``|pq| ≥ (c + o) / 2``; other land is at ``o`` ≥ that. The bound is ``min(c + w, (c + o) / 2)``,
    never less than ``c``: exact at a land border (``o = c``), along a straight coast with no neighbour
    within reach (``c + w``) and across a strait (``c`` plus half its width). Landward of a curving
    coast (a bay, a fjord) it is short of the true distance: pessimistic, as the plan must be. For a
    place on the claim's waters, ``a`` its distance to the claim's land: ``min(w − a, (o − a) / 2)``.
    """
    coasts, w = waters.coasts, waters.coasts.width_km
    out = np.where(on_land, outline_km, 0.0)
    near = np.flatnonzero(~on_land | (outline_km <= DEEP_KM))
    if near.size == 0:
        return out
    c = np.where(on_land[near], outline_km[near], 0.0)
    reach = c + 2.0 * w + 1.0
    _, a_hi, b_lo, _, ok = coasts.distances(lon[near], lat[near], waters.claim, reach)
    land_room = np.maximum(c, np.minimum(c + w, (c + b_lo) / 2.0))
    sea_room = np.maximum(0.0, np.minimum(w - a_hi, (b_lo - a_hi) / 2.0))
    room = np.where(on_land[near], land_room, sea_room)
    out[near] = np.where(ok, room, np.where(on_land[near], c, 0.0))
    return out


def _outer(parts: Sequence[FloatArray]) -> FloatArray:
    """The edges of several countries less those two of them share (a border inside the zone)."""
    if len(parts) == 1:
        return parts[0]
    keys: dict[tuple[float, ...], int] = {}
    for part in parts:
        for row in np.round(part, 7).tolist():
            a, b = (row[0], row[1]), (row[2], row[3])
            key = (*min(a, b), *max(a, b))
            keys[key] = keys.get(key, 0) + 1
    out = []
    for part in parts:
        rows = np.round(part, 7).tolist()
        keep = [keys[(*min((r[0], r[1]), (r[2], r[3])), *max((r[0], r[1]), (r[2], r[3])))] == 1 for r in rows]
        out.append(part[np.asarray(keep, dtype=bool)])
    return np.vstack(out)


def boundary_distance_km(
    lat: npt.ArrayLike, lon: npt.ArrayLike, edges: FloatArray, cap_km: float
) -> FloatArray:
    """Distance (km) from each point to the nearest edge, at most ``cap_km``.

    Measured in an equirectangular plane around each point (a few tenths of a percent
    off at the distances that matter here, a few hundred km); only edges within
    ``cap_km`` of a group of points take part.

    >>> square = np.array([[0, 0, 1, 0], [1, 0, 1, 1], [1, 1, 0, 1], [0, 1, 0, 0]], dtype=float)
    >>> [round(float(x), 1) for x in boundary_distance_km([0.5, 0.5], [0.5, 0.1], square, 500.0)]
    [55.6, 11.1]
    """
    la = np.asarray(lat, dtype=np.float64).ravel()
    lo = np.asarray(lon, dtype=np.float64).ravel()
    out = np.full(la.size, float(cap_km))
    e = np.asarray(edges, dtype=np.float64).reshape(-1, 4)
    if e.shape[0] == 0 or la.size == 0:
        return out
    order = np.lexsort((lo, la))
    e_lat_lo, e_lat_hi = np.minimum(e[:, 1], e[:, 3]), np.maximum(e[:, 1], e[:, 3])
    pad = cap_km / KM_PER_DEG
    for start in range(0, la.size, _CHUNK):
        idx = order[start : start + _CHUNK]
        plat, plon = la[idx], lo[idx]
        near = (e_lat_hi >= plat.min() - pad) & (e_lat_lo <= plat.max() + pad)
        sub = e[near]
        if sub.shape[0] == 0:
            continue
        kx = (np.cos(np.radians(plat)) * KM_PER_DEG)[:, None]
        ax = ((sub[None, :, 0] - plon[:, None] + 180.0) % 360.0 - 180.0) * kx
        ay = (sub[None, :, 1] - plat[:, None]) * KM_PER_DEG
        bx = ((sub[None, :, 2] - plon[:, None] + 180.0) % 360.0 - 180.0) * kx
        by = (sub[None, :, 3] - plat[:, None]) * KM_PER_DEG
        sx, sy = bx - ax, by - ay
        length2 = sx * sx + sy * sy
        t = np.clip(-(ax * sx + ay * sy) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
        dist = np.hypot(ax + t * sx, ay + t * sy).min(axis=1)
        out[idx] = np.minimum(dist, cap_km)
    return out
