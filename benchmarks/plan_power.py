"""Proof power: two landmarks within 10 km of a site, 0.1 ms access per end — is every site at least
60 km inside its country provable?

Sites are drawn uniformly inside each of the countries below (not where people live: the question
is about geometry), kept where they are at least ``--inside-km`` from the country's outline, and
each gets two private landmarks at a uniform distance of 0–10 km in a uniform direction. Fifty
landmarks in the largest metros stand in for the rest of a fleet (a verdict needs three). The plan
is made with the default inflation; each failure is listed with its distance to the outline and
whether the nearest stretch of that outline is a coast (an edge of one country only) or a land
border (shared by two).

``PYTHONPATH=src python benchmarks/plan_power.py [--per-country 20] [--seed 1]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import numpy as np

from fleetproof.batch.csvio import read_landmarks
from fleetproof.geo import Landmark
from fleetproof.geodata import load_countries, load_country_edges
from fleetproof.plan.core import Site, make_plan
from fleetproof.plan.metros import metros_path
from fleetproof.plan.model import DelayPlan
from fleetproof.plan.zones import Zone, ZoneGeometry, boundary_distance_km

COUNTRIES = (
    *("AR", "AU", "BR", "CA", "CN", "DE", "DZ", "EG", "ES", "ET", "FR", "GB", "IN", "IR", "IT", "KZ", "MA"),
    *("MX", "NG", "NO", "PE", "PK", "PL", "RO", "RU", "SA", "SD", "SE", "TR", "TZ", "UA", "US", "ZA", "FI"),
    *("CO", "BO"),
)


def _offset(
    lat: np.ndarray, lon: np.ndarray, km: np.ndarray, bearing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    d = km / 6371.0088
    p1, l1 = np.radians(lat), np.radians(lon)
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(bearing))
    l2 = l1 + np.arctan2(np.sin(bearing) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    return np.degrees(p2), (np.degrees(l2) + 540.0) % 360.0 - 180.0


def _land_edges(edges: dict[str, np.ndarray]) -> set[tuple[float, ...]]:
    """Edges shared by two countries (land borders), keyed by rounded, ordered end points."""
    count: Counter[tuple[float, ...]] = Counter()
    for e in edges.values():
        for r in np.round(e, 6).tolist():
            a, b = (r[0], r[1]), (r[2], r[3])
            count[(*min(a, b), *max(a, b))] += 1
    return {k for k, n in count.items() if n > 1}


def _nearest_is_land(lat: float, lon: float, e: np.ndarray, land: set[tuple[float, ...]]) -> bool:
    d = [float(boundary_distance_km([lat], [lon], e[k : k + 1], 5000.0)[0]) for k in range(e.shape[0])]
    r = np.round(e[int(np.argmin(d))], 6).tolist()
    a, b = (r[0], r[1]), (r[2], r[3])
    return (*min(a, b), *max(a, b)) in land


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--per-country", type=int, default=20)
    ap.add_argument("--inside-km", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the failures here")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    countries, edges = load_countries(), load_country_edges()
    sites: list[Site] = []
    border: list[float] = []
    for code in COUNTRIES:
        geom = ZoneGeometry.of(Zone(code, (code,)), countries.grid, edges)
        assert geom is not None
        e = edges[code]
        lon0, lon1 = float(np.min(e[:, [0, 2]])), float(np.max(e[:, [0, 2]]))
        lat0, lat1 = float(np.min(e[:, [1, 3]])), float(np.max(e[:, [1, 3]]))
        got = 0
        for _ in range(200):
            lat = rng.uniform(lat0, lat1, 400)
            lon = rng.uniform(lon0, lon1, 400)
            ok = geom.inside(lat, lon)
            lat, lon = lat[ok], lon[ok]
            b = geom.border_km(lat, lon)
            for la, lo, bk in zip(lat.tolist(), lon.tolist(), b.tolist(), strict=True):
                if bk >= a.inside_km and got < a.per_country:
                    sites.append(Site(f"{code.lower()}-{got:02d}", round(la, 5), round(lo, 5), code.lower()))
                    border.append(bk)
                    got += 1
            if got >= a.per_country:
                break
    n = len(sites)
    slat = np.array([s.lat for s in sites])
    slon = np.array([s.lon for s in sites])
    landmarks = read_landmarks(metros_path())[:50]
    near_km = rng.uniform(0.0, 10.0, (2, n))
    for k in range(2):
        la, lo = _offset(slat, slon, near_km[k], rng.uniform(0.0, 2 * np.pi, n))
        landmarks += [Landmark(f"{s.id}-lm{k + 1}", float(la[i]), float(lo[i])) for i, s in enumerate(sites)]
    zones = {c.lower(): Zone(c.lower(), (c,)) for c in COUNTRIES}
    delay = DelayPlan(access_ms=0.1)
    t0 = time.perf_counter()
    plan = make_plan(sites, zones, landmarks, [], countries, edges, delay)
    wall = time.perf_counter() - t0
    provable = sum(p.provable_now for p in plan.sites)
    engine_proven = sum(p.verdict_now == "proven" for p in plan.sites)
    print(
        f"{n} sites in {len(COUNTRIES)} countries, each ≥ {a.inside_km:g} km inside; "
        f"inflation {delay.inflation}, access {delay.access_ms} ms per end; planned in {wall:.1f} s"
    )
    print(
        f"provable: {provable} of {n} ({100 * provable / n:.1f} %); the engine proves {engine_proven}, "
        f"{engine_proven - provable} of them with a joint budget below {plan.min_headroom_ms:g} ms"
    )
    joint = sorted(p.joint_budget_ms for p in plan.sites if p.provable_now and p.joint_budget_ms is not None)
    if joint:
        print(
            f"joint budgets of the provable: median {joint[len(joint) // 2]:.2f} ms, least {joint[0]:.2f} ms"
        )
    land = _land_edges(edges)
    failures = []
    index = {lm.id: lm for lm in landmarks}
    for p, bk, d in zip(plan.sites, border, near_km.T, strict=True):
        if p.provable_now:
            continue
        code = zones[p.site.zone].countries[0]
        geom = ZoneGeometry.of(Zone(code, (code,)), countries.grid, edges)
        assert geom is not None
        own = [index[f"{p.site.id}-lm{k + 1}"] for k in range(2)]
        room = geom.border_km(np.array([lm.lat for lm in own]), np.array([lm.lon for lm in own]))
        # How far each landmark's disk stays from the outline (negative: it crosses it).
        spare = [round(float(r - delay.reach_km(x)), 1) for r, x in zip(room, d, strict=True)]
        failures.append(
            {
                "site": p.site.id,
                "lat": p.site.lat,
                "lon": p.site.lon,
                "border_km": round(bk, 1),
                "landmarks_km": [round(float(x), 1) for x in d],
                "largest_disk_km": round(float(delay.reach_km(d.max())), 1),
                "disk_to_outline_km": spare,
                "verdict": p.verdict_now,
                "joint_budget_ms": p.joint_budget_ms,
                "nearest_outline": "land border"
                if _nearest_is_land(p.site.lat, p.site.lon, edges[code], land)
                else "coast",
            }
        )
    for f in failures:
        print(
            f"  {f['site']:8} ({f['lat']:8.3f},{f['lon']:9.3f}) {f['border_km']:6.1f} km from the "
            f"{f['nearest_outline']}; landmarks at {f['landmarks_km']} km, "
            f"disk up to {f['largest_disk_km']} km, {f['disk_to_outline_km']} km from the outline; "
            f"{f['verdict']}"
            + (f", joint budget {f['joint_budget_ms']} ms" if f["verdict"] == "proven" else "")
        )

    def band(km: float) -> str:
        return "≥ 70 km" if km >= 70 else "60–70 km" if km >= 60 else "< 60 km"

    by_margin = Counter(band(b) for b in border)
    fail_margin = Counter(band(f["border_km"]) for f in failures)
    for k in sorted(by_margin):
        print(f"  sites {k} inside: {by_margin[k] - fail_margin[k]} of {by_margin[k]} provable")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(failures, fh, indent=1)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
