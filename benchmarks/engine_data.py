"""Shared loader for the engine benchmarks: the WonderProxy dev set as landmarks and a mesh."""

from __future__ import annotations

import csv
from pathlib import Path

from fleetproof.geo import Landmark, MeshLink

DEFAULT_DATA = Path("/work/shared/data/wonderproxy-dev")


def load_dev(data: Path = DEFAULT_DATA) -> tuple[list[Landmark], list[MeshLink]]:
    """Servers as landmarks (country from the file) and the minimum RTT per unordered pair."""
    with open(data / "servers.csv", newline="", encoding="utf-8") as fh:
        servers = [
            Landmark(r["id"], float(r["lat"]), float(r["lon"]), r["country"] or None)
            for r in csv.DictReader(fh)
        ]
    best: dict[tuple[str, str], float] = {}
    with open(data / "pings.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            a, b = r["source"], r["destination"]
            if a == b or not r["min"]:
                continue
            key = (a, b) if a < b else (b, a)
            v = float(r["min"])
            if v > 0 and v < best.get(key, float("inf")):
                best[key] = v
    return servers, [MeshLink(a, b, v) for (a, b), v in sorted(best.items())]
