"""Generated fleets for the planner's benchmarks: sites where people live, landmarks in metros.

Sites are drawn from the bundled population cells (GeoNames, where data centres
follow people), jittered within about 10 km, and kept where the country table
places them in a country; each site's zone is its country. Landmarks are drawn
the same way, at distinct cells. Everything is seeded, so a figure can be rerun.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from fleetproof.geodata import load_countries
from fleetproof.geodata.population import load_population


def draw_places(
    n: int, rng: np.random.Generator, jitter_deg: float = 0.1
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` places in countries, population-weighted: (lat, lon, country code)."""
    countries = load_countries()
    lat, lon, pop = load_population()
    p = pop / pop.sum()
    out_lat: list[float] = []
    out_lon: list[float] = []
    codes: list[str] = []
    while len(codes) < n:
        k = rng.choice(lat.size, size=2 * (n - len(codes)), p=p)
        la = np.clip(lat[k] + rng.uniform(-jitter_deg, jitter_deg, k.size), -89.9, 89.9)
        lo = (lon[k] + rng.uniform(-jitter_deg, jitter_deg, k.size) + 180.0) % 360.0 - 180.0
        for a, b in zip(la.tolist(), lo.tolist(), strict=True):
            code = countries.country_at(a, b)
            if code is not None and len(codes) < n:
                out_lat.append(round(a, 5))
                out_lon.append(round(b, 5))
                codes.append(code)
    return np.array(out_lat), np.array(out_lon), codes


def write_fleet(folder: Path, n_sites: int, n_landmarks: int, seed: int = 1) -> dict[str, Path]:
    """S.csv, L.csv and Z.json for a generated fleet; returns their paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    slat, slon, scodes = draw_places(n_sites, rng)
    llat, llon, _ = draw_places(n_landmarks, rng, jitter_deg=0.02)
    paths = {"sites": folder / "S.csv", "landmarks": folder / "L.csv", "zones": folder / "Z.json"}
    with open(paths["sites"], "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "lat", "lon", "zone"])
        for i in range(n_sites):
            w.writerow([f"site-{i:05d}", slat[i], slon[i], scodes[i].lower()])
    with open(paths["landmarks"], "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "lat", "lon"])
        for i in range(n_landmarks):
            w.writerow([f"lm-{i:03d}", llat[i], llon[i]])
    zones = [{"id": c.lower(), "allowed_countries": [c]} for c in sorted(set(scodes))]
    paths["zones"].write_text(json.dumps(zones, indent=1), encoding="utf-8")
    return paths
