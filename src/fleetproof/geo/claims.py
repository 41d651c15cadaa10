"""Claims: where a target is supposed to be.

A claim is a point, one or more countries (a zone may allow several; the
verdict is about their union) or an operator region given as GeoJSON polygons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Claim", "ClaimKind", "check_polygons", "geojson_polygons"]

ClaimKind = Literal["point", "countries", "region"]


@dataclass(frozen=True)
class Claim:
    """One claim about one target. Build with :meth:`point`, :meth:`country` or :meth:`in_region`.

    >>> Claim.point("c1", "host-7", 50.1, 8.7).kind
    'point'
    >>> Claim.country("c2", "host-7", "de", "AT").countries
    ('DE', 'AT')
    """

    id: str
    target: str
    lat: float | None = None
    lon: float | None = None
    countries: tuple[str, ...] = ()
    region: Mapping[str, Any] | None = None
    region_name: str | None = None

    def __post_init__(self) -> None:
        kinds = (self.lat is not None) + bool(self.countries) + (self.region is not None)
        if kinds != 1:
            raise ValueError("a claim is exactly one of: a point, countries, a region")
        if self.lat is not None and (
            self.lon is None or not (-90 <= self.lat <= 90) or not (-180 <= self.lon <= 180)
        ):
            raise ValueError(f"claim {self.id!r}: point out of range ({self.lat}, {self.lon})")

    @property
    def kind(self) -> ClaimKind:
        if self.lat is not None:
            return "point"
        return "countries" if self.countries else "region"

    @staticmethod
    def point(claim_id: str, target: str, lat: float, lon: float) -> Claim:
        return Claim(claim_id, target, lat=float(lat), lon=float(lon))

    @staticmethod
    def country(claim_id: str, target: str, *codes: str) -> Claim:
        return Claim(claim_id, target, countries=tuple(c.strip().upper() for c in codes))

    @staticmethod
    def in_region(claim_id: str, target: str, geojson: Mapping[str, Any], name: str | None = None) -> Claim:
        check_polygons(geojson_polygons(geojson))  # validate early, not deep inside a verdict
        return Claim(claim_id, target, region=geojson, region_name=name)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "target": self.target, "kind": self.kind}
        if self.kind == "point":
            out.update(lat=self.lat, lon=self.lon)
        elif self.kind == "countries":
            out["countries"] = list(self.countries)
        else:
            out["region"] = self.region_name
        return out


def geojson_polygons(doc: Mapping[str, Any]) -> list[Sequence[Sequence[Sequence[float]]]]:
    """Polygons (lists of rings) from a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection.

    >>> len(geojson_polygons({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}))
    1
    """
    kind = doc.get("type")
    if kind == "FeatureCollection":
        return [p for f in doc.get("features", []) for p in geojson_polygons(f)]
    if kind == "Feature":
        geom = doc.get("geometry")
        return geojson_polygons(geom) if isinstance(geom, Mapping) else []
    if kind == "Polygon":
        return [doc["coordinates"]]
    if kind == "MultiPolygon":
        return list(doc["coordinates"])
    if kind == "GeometryCollection":
        return [p for g in doc.get("geometries", []) for p in geojson_polygons(g)]
    raise ValueError(f"not a polygon GeoJSON object: type {kind!r}")


def check_polygons(polygons: Sequence[Any]) -> None:
    """Raise ``ValueError`` unless each polygon is rings of at least 4 finite [lon, lat] positions.

    Checked once where a region comes in (a file, an API call), so that a bad coordinate
    is reported there instead of failing deep inside a verdict or a map. GeoJSON's rule of
    4 positions (a closed triangle) is kept; a ring whose last position differs from its
    first is closed automatically. A ring may run past ±180° (177…181 instead of a cut at
    the antimeridian), which the engine reads modulo 360°, so longitudes may reach ±360° as
    long as a ring spans at most a full turn.

    >>> check_polygons([[[[0, 0], [1, 0], [1, 1], [0, 0]]]])
    >>> check_polygons([[[[0, 0], [1, 0], [0, 0]]]])
    Traceback (most recent call last):
    ...
    ValueError: a ring has 3 positions; at least 4 needed
    """
    for polygon in polygons:
        if not isinstance(polygon, list | tuple) or not polygon:
            raise ValueError("a polygon must be a non-empty list of rings")
        for ring in polygon:
            if not isinstance(ring, list | tuple) or len(ring) < 4:
                n = len(ring) if isinstance(ring, list | tuple) else "no"
                raise ValueError(f"a ring has {n} positions; at least 4 needed")
            for pos in ring:
                shown = repr(pos) if len(repr(pos)) <= 40 else repr(pos)[:37] + "..."
                if not isinstance(pos, list | tuple) or not 2 <= len(pos) <= 3:
                    raise ValueError(f"position {shown} is not [lon, lat]")
                if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos):
                    raise ValueError(f"position {shown} has a value that is not a number")
                lon, lat = pos[0], pos[1]  # compared as they are: float() of a huge int overflows
                if not (-360 <= lon <= 360 and -90 <= lat <= 90):  # NaN fails too
                    raise ValueError(f"position {shown} is out of range (lon -360..360, lat -90..90)")
            lons = [pos[0] for pos in ring]
            if max(lons) - min(lons) > 360:
                raise ValueError("a ring spans more than 360° of longitude")
