"""Rebuild the bundled sample (``batch/data/sample``) from the WonderProxy dev data set.

``python -m fleetproof.batch.sample_build /path/to/wonderproxy-dev`` writes the four
CSV files. Landmarks and targets are fixed lists of server ids chosen to show each
outcome: honest claims (consistent, and proven inside an operator zone), false claims
caught, a suspicious claim (a server the full data set shows to be mislocated, claiming
its advertised city), and a landmark whose advertised city the mesh contradicts
(Belfast, which answers like London).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

LANDMARKS = [
    "4",
    "11",
    "29",
    "26",
    "28",
    "44",
    "45",
    "58",
    "66",
    "67",
    "129",
    "147",
    "161",
    "190",
    "198",
    "214",
    "204",
    "187",
    "12",
    "13",
    "18",
    "23",
    "71",
    "55",
    "82",
    "256",
    "33",
    "238",
    "70",
    "46",
    "57",
    "72",
    "119",
    "105",
    "175",
    "62",
    "133",
    "87",
    "95",
    "59",
    "144",
    "106",
    "231",
    "121",
    "80",
]
# claim id, target server, then either ("point", server-whose-position-is-claimed) or ("country", codes)
CLAIMS = (
    ("lyon-home", "240", "point", "240"),
    ("lyon-fr", "240", "country", "FR"),
    ("lincoln-us", "259", "country", "US"),
    ("saltlake-home", "86", "point", "86"),
    ("brussels-benelux", "208", "country", "BE;NL;LU"),
    ("riga-says-singapore", "127", "country", "SG"),
    ("nuremberg-says-tokyo", "158", "point", "244"),
    ("bern-says-lisbon", "234", "point", "44"),
    ("ottawa-says-quebec", "249", "point", "256"),
    ("brussels-eu-core", "208", "region", "eu-core"),
    ("lugano-home", "211", "point", "211"),
)
# An operator's allowed zone, as GeoJSON (lon, lat): western and central Europe.
REGIONS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "eu-core"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[-12.0, 38.0], [25.0, 38.0], [25.0, 62.0], [-12.0, 62.0], [-12.0, 38.0]]],
            },
        }
    ],
}


def _servers(data: Path) -> dict[str, dict[str, str]]:
    with open(data / "servers.csv", newline="", encoding="utf-8") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def _pings(data: Path) -> dict[tuple[str, str], float]:
    best: dict[tuple[str, str], float] = {}
    with open(data / "pings.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            a, b = r["source"], r["destination"]
            if a != b and r["min"]:
                key = (min(a, b), max(a, b))
                best[key] = min(best.get(key, float("inf")), float(r["min"]))
    return best


def build(data: Path, out: Path) -> None:
    servers, pings = _servers(data), _pings(data)
    name = {k: f"{v['name'].lower()}-{k}" for k, v in servers.items()}

    def rtt(a: str, b: str) -> float | None:
        return pings.get((min(a, b), max(a, b)))

    with open(out / "landmarks.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "lat", "lon", "country"])
        for k in LANDMARKS:
            s = servers[k]
            w.writerow([name[k], s["lat"], s["lon"], s["country"]])
    with open(out / "mesh.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["a", "b", "rtt_ms"])
        for i, a in enumerate(LANDMARKS):
            for b in LANDMARKS[i + 1 :]:
                r = rtt(a, b)
                if r is not None:
                    w.writerow([name[a], name[b], r])
    targets = sorted({c[1] for c in CLAIMS}, key=int)
    with open(out / "rtts.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["target", "landmark", "rtt_ms"])
        for t in targets:
            for k in LANDMARKS:
                r = rtt(t, k)
                if r is not None:
                    w.writerow([f"host-{name[t]}", name[k], r])
    with open(out / "claims.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["claim", "target", "lat", "lon", "country"])
        for cid, t, kind, what in CLAIMS:
            if kind == "point":
                w.writerow([cid, f"host-{name[t]}", servers[what]["lat"], servers[what]["lon"], ""])
            else:
                w.writerow([cid, f"host-{name[t]}", "", "", what])
    (out / "regions.json").write_text(json.dumps(REGIONS, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(__file__).parent / "data" / "sample")
