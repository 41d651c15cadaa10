"""The generated fleet of ``plan_fleet_e2e.py``: sites in many countries' metros, their zones, the
landmarks already in place, where a moved host goes, which landmarks a host measures, and whether
a site's nearest outline is a coast or a land border."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetproof.geo.sphere import EARTH_RADIUS_KM
from fleetproof.plan.judge import SPARE_RAD
from fleetproof.plan.metros import metros_path
from fleetproof.plan.model import DelayPlan

__all__ = ["COUNTRIES", "METRO_KM", "Fleet", "make_fleet", "measured", "moved_position", "outline_kinds"]

#: Countries with sites: every continent, land borders and coasts, small and vast.
COUNTRIES = (
    *("DE", "FR", "ES", "IT", "GB", "PL", "UA", "HU", "TR", "RU", "KZ", "UZ", "US", "CA", "MX"),
    *("BR", "AR", "CO", "PE", "CL", "VE", "EC", "BO", "ZA", "NG", "EG", "MA", "KE", "TZ", "AO"),
    *("SD", "SA", "IR", "IQ", "PK", "IN", "BD", "CN", "JP", "KR", "VN", "PH", "MY", "ID", "AU"),
)
#: Landmarks already in place: one at each of the bundled metros' largest places.
BACKBONE = 50
#: A proof landmark this close to its site (sites are ≤ 10 km from their metro's centre) is in its metro.
METRO_KM = 20.0
#: The planner's spare (1°) by which a left-out disk must overreach a site's tightest disks, km.
SPARE_KM = SPARE_RAD * EARTH_RADIUS_KM


@dataclass
class Fleet:
    sites: list[dict[str, Any]]
    zones: list[dict[str, Any]]
    existing: list[dict[str, Any]]


def _offset(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    """The point ``km`` from (lat, lon) along ``bearing`` (radians) on the sphere."""
    d = km / 6371.0088
    p1, l1 = np.radians(lat), np.radians(lon)
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(bearing))
    l2 = l1 + np.arctan2(np.sin(bearing) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    return float(np.degrees(p2)), float((np.degrees(l2) + 540.0) % 360.0 - 180.0)


def make_fleet(n_sites: int, seed: int, countries: tuple[str, ...] = COUNTRIES) -> Fleet:
    """``n_sites`` sites spread evenly over the metros of ``countries`` (see the module docstring)."""
    with metros_path().open(encoding="utf-8") as f:
        metros = sorted(csv.DictReader(f), key=lambda r: -int(r["population"]))
    backbone, rest = metros[:BACKBONE], metros[BACKBONE:]
    wanted = set(countries)
    places = [m for m in rest if m["country"] in wanted]
    rng = np.random.default_rng(seed)
    # Round-robin over countries, then over each country's metros, so that a small fleet still spans
    # many countries and a large one every metro.
    by_country: dict[str, list[dict[str, str]]] = {}
    for m in places:
        by_country.setdefault(m["country"], []).append(m)
    order: list[dict[str, str]] = []
    depth = 0
    while len(order) < len(places):
        for c in countries:
            if depth < len(by_country.get(c, [])):
                order.append(by_country[c][depth])
        depth += 1
    sites = []
    for i in range(n_sites):
        m = order[i % len(order)]
        km = 10.0 * float(np.sqrt(rng.uniform()))
        lat, lon = _offset(float(m["lat"]), float(m["lon"]), km, float(rng.uniform(0, 2 * np.pi)))
        sites.append(
            {"id": f"s{i:05d}-{m['country'].lower()}", "lat": round(lat, 5), "lon": round(lon, 5)}
            | {"zone": f"z-{m['country'].lower()}", "metro": m["id"], "country": m["country"]}
        )
    used = sorted({s["country"] for s in sites})
    zones = [{"id": f"z-{c.lower()}", "allowed_countries": [c]} for c in used]
    existing = [{"id": f"bb-{m['id']}", "lat": float(m["lat"]), "lon": float(m["lon"])} for m in backbone]
    return Fleet(sites, zones, existing)


def _edge_keys(edges: Any) -> list[tuple[float, ...]]:
    """Each edge as its two end points, rounded and ordered, so that two countries' copies match."""
    r = np.round(np.asarray(edges, dtype=np.float64).reshape(-1, 4), 6)
    a, b = r[:, :2], r[:, 2:]
    a_first = (a[:, 0] < b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] <= b[:, 1]))
    lo = np.where(a_first[:, None], a, b)
    hi = np.where(a_first[:, None], b, a)
    return list(map(tuple, np.hstack([lo, hi]).tolist()))


def outline_kinds(sites: list[dict[str, Any]]) -> dict[str, str]:
    """Per site, whether the nearest stretch of its country's outline is a ``coast`` (an edge of that
    country alone in the bundled table) or a ``land border`` (an edge two countries share)."""
    from fleetproof.geodata import load_country_edges
    from fleetproof.plan.zones import boundary_distance_km

    edges = load_country_edges()
    count: Counter[tuple[float, ...]] = Counter()
    for e in edges.values():
        count.update(_edge_keys(e))
    out = {}
    for country in sorted({s["country"] for s in sites}):
        e = np.asarray(edges[country], dtype=np.float64).reshape(-1, 4)
        shared = np.array([count[k] > 1 for k in _edge_keys(e)], dtype=bool)
        mine = [s for s in sites if s["country"] == country]
        lat = np.array([s["lat"] for s in mine])
        lon = np.array([s["lon"] for s in mine])
        coast = boundary_distance_km(lat, lon, e[~shared], 5000.0)
        land = boundary_distance_km(lat, lon, e[shared], 5000.0)
        for s, c, g in zip(mine, coast.tolist(), land.tolist(), strict=True):
            out[s["id"]] = "coast" if c <= g else "land border"
    return out


def moved_position(
    lat: float, lon: float, zone_geometry: Any, moved_km: float, rng: np.random.Generator
) -> tuple[float, float] | None:
    """A point at least ``moved_km`` outside the zone's outline, in a random direction from the site."""
    for attempt in range(600):
        reach = 300.0 * (1 + attempt // 100)
        km = float(rng.uniform(moved_km, moved_km + reach))
        plat, plon = _offset(lat, lon, km, float(rng.uniform(0, 2 * np.pi)))
        a, b = np.array([plat]), np.array([plon])
        if not bool(zone_geometry.inside(a, b)[0]) and float(zone_geometry.border_km(a, b)[0]) >= moved_km:
            return plat, plon
    return None


def measured(distance: Any, delay: DelayPlan, at_least: int, nearest_only: bool = False) -> Any:
    """Which landmarks a host measures: indices into ``distance`` (km from its site), nearest first.

    The plan assumes a host measures every landmark. A landmark whose disk holds the whole
    neighbourhood spanned by the site's two tightest disks, with 1° to spare, excludes no place the
    engine looks at (the planner's own rule, :mod:`fleetproof.plan.judge`): the host measures all the
    others, and at least the ``at_least`` nearest. With ``nearest_only``, just those: what a prober
    set to a fixed number of nearby landmarks does.
    """
    order = np.argsort(distance, kind="stable")
    if nearest_only:
        return order[:at_least]
    reach = delay.reach_km(distance)
    span = float(np.max(distance[order[:2]] + reach[order[:2]]))
    keep = reach < distance + span + SPARE_KM
    keep[order[:at_least]] = True
    return order[keep[order]]
