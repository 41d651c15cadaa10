"""Where sites, landmarks and candidate places sit in their zones — what the planner proposes from.

Only the engine says ``proven``. This module answers the cheaper questions that decide
what is worth asking it: is a place inside a zone, how much room does a disk centred on
it have before it crosses the zone's border, which candidate places would give a site a
disk that fits — and, for a site that nothing can prove, why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fleetproof.geo import CountryTable, Landmark
from fleetproof.geo.area_verdicts import REFINE_PROVEN_MAX_RAD
from fleetproof.geo.sphere import DISTANCE_REL_ERROR, EARTH_RADIUS_KM, unit_vectors
from fleetproof.plan.model import DelayPlan
from fleetproof.plan.zones import Zone, ZoneGeometry

__all__ = ["Fits", "Geometry", "margin_km", "why_not"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
#: Room a disk must leave to its zone's border where the engine refines (sub-cells of ~0.9 km).
FINE_MARGIN_KM = 2.0
#: Room where it does not (the region is then whole 0.5° cells, which must all be inside).
COARSE_MARGIN_KM = 80.0
_SITES_PER_PASS = 2048


class _Site(Protocol):
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def zone(self) -> str: ...


def margin_km(reach_km: FloatArray) -> FloatArray:
    """Room a disk of ``reach_km`` must keep from the border for the engine to call it inside."""
    fine = np.asarray(reach_km) <= REFINE_PROVEN_MAX_RAD * EARTH_RADIUS_KM
    return np.where(fine, FINE_MARGIN_KM, COARSE_MARGIN_KM)


@dataclass(frozen=True)
class Fits:
    """Candidate places whose disk fits each site (``pair_*``, nearest first per site), and how many
    existing landmarks already fit each site."""

    pair_site: IntArray
    pair_place: IntArray
    pair_km: FloatArray
    existing_count: IntArray

    def places_of(self, site: int) -> list[int]:
        lo, hi = np.searchsorted(self.pair_site, [site, site + 1])
        return [int(c) for c in self.pair_place[lo:hi]]


@dataclass
class Geometry:
    """Per site: its zone, claim problem, whether it is inside and its room; per zone: the room of
    every existing landmark and candidate place (−inf outside the zone)."""

    sites: Sequence[_Site]
    zones: list[Zone | None]
    zone_number: IntArray
    problem: list[str | None]
    inside: BoolArray
    border: FloatArray
    possible: BoolArray
    room: dict[int, FloatArray]
    points: FloatArray  # unit vectors of existing landmarks then candidate places
    n_existing: int
    per_place: int
    candidates: Sequence[Landmark]
    delay: DelayPlan
    #: Extra disk radius (km) a fitting landmark must leave room for: the minimum headroom's worth.
    headroom_km: float = 0.0

    @staticmethod
    def build(
        sites: Sequence[_Site],
        zones: Mapping[str, Zone],
        landmarks: Sequence[Landmark],
        candidates: Sequence[Landmark],
        countries: CountryTable,
        country_edges: Mapping[str, FloatArray],
        delay: DelayPlan,
        per_place: int,
        min_headroom_ms: float = 0.0,
    ) -> Geometry:
        n = len(sites)
        numbers: dict[str, int] = {}
        zone_of: list[Zone | None] = []
        problem: list[str | None] = []
        for s in sites:
            z = zones.get(s.zone)
            zone_of.append(z)
            numbers.setdefault(s.zone, len(numbers))
            problem.append(_problem(s.zone, z, countries))
        zone_number = np.array([numbers[s.zone] for s in sites], dtype=np.int64)
        lat = np.array([s.lat for s in sites], dtype=np.float64)
        lon = np.array([s.lon for s in sites], dtype=np.float64)
        plat = np.array([p.lat for p in (*landmarks, *candidates)], dtype=np.float64)
        plon = np.array([p.lon for p in (*landmarks, *candidates)], dtype=np.float64)
        inside = np.zeros(n, dtype=bool)
        border = np.full(n, np.nan)
        room: dict[int, FloatArray] = {}
        for name, number in numbers.items():
            members = np.flatnonzero(
                (zone_number == number) & np.array([p is None for p in problem], dtype=bool)
            )
            z = zones.get(name)
            if members.size == 0 or z is None:
                continue
            shape = ZoneGeometry.of(z, countries.grid, country_edges, countries.coasts())
            if shape is None:
                for i in members.tolist():
                    problem[i] = f"zone {name!r}: no outline is known for its countries"
                continue
            inside[members] = shape.inside(lat[members], lon[members])
            border[members] = shape.border_km(lat[members], lon[members], inside=inside[members])
            r = np.full(plat.size, -np.inf)
            within = np.flatnonzero(shape.inside(plat, plon))
            r[within] = shape.border_km(plat[within], plon[within], inside=np.ones(within.size, dtype=bool))
            room[number] = r
        ok = np.array([p is None for p in problem], dtype=bool)
        floor = delay.floor_km()
        possible = (
            ok & inside & (np.nan_to_num(border, nan=-1.0) >= floor + float(margin_km(np.array(floor))))
        )
        return Geometry(
            sites,
            zone_of,
            zone_number,
            problem,
            inside,
            border,
            possible,
            room,
            unit_vectors(plat, plon).reshape(-1, 3),
            len(landmarks),
            per_place,
            candidates,
            delay,
            float(delay.speed.max_distance_km(min_headroom_ms + delay.speed.allowance_ms))
            * (1.0 + DISTANCE_REL_ERROR),
        )

    def claim_target(self, i: int) -> Zone | None:
        return self.zones[i] if self.problem[i] is None else None

    def kind(self, i: int) -> str:
        z = self.zones[i]
        return "unknown" if z is None else z.kind

    def site_border_km(self, i: int) -> float | None:
        b = self.border[i]
        return None if not np.isfinite(b) else round(float(b), 1)

    def point_of(self, pool: IntArray) -> IntArray:
        """Pool landmark indices (existing, then ``per_place`` per candidate) → point indices."""
        pool = np.asarray(pool, dtype=np.int64)
        return np.where(
            pool < self.n_existing, pool, self.n_existing + (pool - self.n_existing) // self.per_place
        )

    def room_km(self, site: IntArray, pool: IntArray) -> FloatArray:
        """(len(site), len(pool)): distance from each landmark to the site's zone border (−inf outside)."""
        out = np.full((site.size, pool.size), -np.inf)
        pts = self.point_of(pool)
        for k, s in enumerate(site.tolist()):
            r = self.room.get(int(self.zone_number[s]))
            if r is not None:
                out[k] = r[pts]
        return out

    def fitting(self, sites: IntArray) -> Fits:
        """For ``sites``: fitting candidate places (nearest first), and how many existing landmarks fit."""
        n_sites = len(self.sites)
        existing_count = np.zeros(n_sites, dtype=np.int64)
        ps, pc, pk = [], [], []
        lat = np.array([s.lat for s in self.sites], dtype=np.float64)
        lon = np.array([s.lon for s in self.sites], dtype=np.float64)
        vec = unit_vectors(lat, lon).reshape(-1, 3)
        for number, r in self.room.items():
            members = sites[self.zone_number[sites] == number]
            usable = np.flatnonzero(r > self.delay.floor_km())
            if members.size == 0 or usable.size == 0:
                continue
            for lo in range(0, members.size, _SITES_PER_PASS):
                m = members[lo : lo + _SITES_PER_PASS]
                d = np.arccos(np.clip(vec[m] @ self.points[usable].T, -1.0, 1.0)) * EARTH_RADIUS_KM
                reach = self.delay.reach_km(d) + self.headroom_km
                fit = reach + margin_km(reach) <= r[usable][None, :]
                is_existing = usable < self.n_existing
                existing_count[m] += fit[:, is_existing].sum(axis=1)
                rows, cols = np.nonzero(fit[:, ~is_existing])
                ps.append(m[rows])
                pc.append(usable[~is_existing][cols] - self.n_existing)
                pk.append(d[:, ~is_existing][rows, cols])
        site = np.concatenate(ps) if ps else np.zeros(0, dtype=np.int64)
        place = np.concatenate(pc) if pc else np.zeros(0, dtype=np.int64)
        km = np.concatenate(pk) if pk else np.zeros(0)
        order = np.lexsort((place, km, site))
        return Fits(site[order], place[order].astype(np.int64), km[order], existing_count)

    def nearest_candidate(self, i: int) -> tuple[int, float] | None:
        """The candidate place inside site ``i``'s zone nearest to it, and its distance (km)."""
        r = self.room.get(int(self.zone_number[i]))
        if r is None:
            return None
        inside = np.flatnonzero(np.isfinite(r[self.n_existing :]))
        if inside.size == 0:
            return None
        s = self.sites[i]
        v = unit_vectors(s.lat, s.lon).reshape(3)
        d = np.arccos(np.clip(self.points[self.n_existing + inside] @ v, -1.0, 1.0)) * EARTH_RADIUS_KM
        k = int(np.argmin(d))
        return int(inside[k]), float(d[k])


def _problem(name: str, zone: Zone | None, countries: CountryTable) -> str | None:
    """Why a site's zone gives the engine nothing it could prove, or None."""
    if zone is None:
        return f"zone {name!r} is not in the zones file"
    if zone.kind == "none":
        return f"zone {name!r} has neither allowed countries nor a region: there is no area to prove"
    if zone.kind == "point":
        return f"zone {name!r} is a site point: the engine proves areas (countries, regions), never a point"
    if zone.kind == "countries":
        unknown = [c for c in zone.countries if c not in countries.areas]
        if unknown:
            return f"zone {name!r}: country {', '.join(unknown)} is not in the engine's country table"
    return None


def why_not(geo: Geometry, i: int, now: str | None, after: str | None, proposed: bool) -> str:
    """A sentence for a site that stays unprovable."""
    problem = geo.problem[i]
    if problem is not None:
        return problem
    border = float(geo.border[i])
    if not geo.inside[i]:
        return (
            "the site lies outside its zone: an honest host there is never proven inside it "
            f"(the engine says {now or 'nothing'} now)"
        )
    floor = geo.delay.floor_km()
    if not geo.possible[i]:
        return (
            f"the site is {border:.0f} km from its zone's border, but the smallest disk any landmark can "
            f"give it is {floor:.0f} km (access delay alone, a landmark at the site itself): no deployment "
            "can prove it"
        )
    if proposed:
        return (
            "the landmarks proposed give disks inside the zone, but not by the engine's margin: its verdict "
            f"with them is {after or now or 'none'}"
        )
    near = geo.nearest_candidate(i)
    if near is None:
        return "no candidate place lies inside the site's zone"
    c, d = near
    reach = float(geo.delay.reach_km(d))
    room = float(geo.room[int(geo.zone_number[i])][geo.n_existing + c])
    return (
        f"no candidate place is near enough: the nearest in the zone, {geo.candidates[c].id} at {d:.0f} km, "
        f"gives a {reach:.0f} km disk but lies {room:.0f} km from the zone's border"
    )
