"""Claims: where a target is supposed to be.

A claim is a point, one or more countries (a zone may allow several; the
verdict is about their union) or an operator region given as GeoJSON polygons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Claim", "ClaimKind", "geojson_polygons"]

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
        geojson_polygons(geojson)  # validate early
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
