"""The planner's input files, checked with the batch CLI's readers: every error names file and line.

- sites ``id,lat,lon,zone`` — read with the helpers of :mod:`fleetproof.batch.csvio`;
- landmarks and candidate places ``id,lat,lon`` — :func:`~fleetproof.batch.csvio.read_landmarks`;
- zones — a JSON list of zones in the server's shape (``id``, ``allowed_countries``,
  ``allowed_region`` GeoJSON, ``site_lat``/``site_lon``; other keys such as
  ``description`` are allowed and ignored), or an object ``{"zones": [...]}`` as the
  admin API lists them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fleetproof.batch.csvio import _latlon, _rows, check_unique, not_utf8, read_landmarks
from fleetproof.errors import InputError
from fleetproof.geo import Landmark
from fleetproof.geo.claims import check_polygons, geojson_polygons
from fleetproof.plan.core import Site
from fleetproof.plan.metros import metros_path
from fleetproof.plan.zones import Zone

__all__ = ["read_candidates", "read_sites", "read_zones"]

ZONE_KEYS = {"id", "allowed_countries", "allowed_region", "site_lat", "site_lon"}


def read_sites(path: Path) -> list[Site]:
    """``id,lat,lon,zone``: ids unique, positions in range, a zone named on every row."""
    out: list[Site] = []
    first: dict[str, int] = {}
    for line, row in _rows(path, ("id", "lat", "lon", "zone")):
        sid = row["id"]
        if not sid:
            raise InputError(str(path), line, "id is empty")
        check_unique(path, line, first, "site", sid)
        lat, lon = _latlon(path, line, row["lat"], row["lon"])
        if not row["zone"]:
            raise InputError(str(path), line, "zone is empty")
        out.append(Site(sid, lat, lon, row["zone"]))
    return out


def read_candidates(path: Path | None) -> tuple[list[Landmark], str]:
    """Candidate places from ``path``, or the bundled metros; and where they came from."""
    if path is None:
        return read_landmarks(metros_path()), "bundled metros (GeoNames, ≥ 500,000 inhabitants)"
    return read_landmarks(path), str(path)


def _elements(path: Path, text: str) -> tuple[list[tuple[int, Any]], bool]:
    """The items of the top-level JSON list (or of its ``zones`` list), each with its first line."""
    decoder = json.JSONDecoder()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(str(path), exc.lineno, f"not valid JSON: {exc.msg}") from None
    wrapped = isinstance(doc, dict)
    if wrapped:
        if not isinstance(doc.get("zones"), list):
            raise InputError(str(path), 1, 'expected a JSON list of zones, or an object with a "zones" list')
        start = text.index("[", _key_offset(text))
    elif isinstance(doc, list):
        start = text.index("[")
    else:
        raise InputError(str(path), 1, "expected a JSON list of zones")
    out: list[tuple[int, Any]] = []
    pos = start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        value, end = decoder.raw_decode(text, pos)
        out.append((text.count("\n", 0, pos) + 1, value))
        pos = end
    return out, wrapped


def _key_offset(text: str) -> int:
    """Where the value of the top-level ``"zones"`` key starts (the file parsed, so it is there)."""
    depth, i, in_str = 0, 0, False
    while i < len(text):
        ch = text[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            if depth == 1 and text.startswith('"zones"', i):
                return i + len('"zones"')
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        i += 1
    return 0


def read_zones(path: Path) -> dict[str, Zone]:
    """Zones by id, each checked as the server checks a new zone."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read file: {exc.strerror or exc}") from None
    items, _ = _elements(path, text)
    if not items:
        raise InputError(str(path), None, "no zones in the file")
    out: dict[str, Zone] = {}
    first: dict[str, int] = {}
    for line, item in items:
        zone = _zone(path, line, item)
        check_unique(path, line, first, "zone", zone.id)
        out[zone.id] = zone
    return out


def _zone(path: Path, line: int, item: Any) -> Zone:
    def bad(problem: str) -> InputError:
        return InputError(str(path), line, problem)

    if not isinstance(item, dict):
        raise bad("a zone must be a JSON object")
    zid = item.get("id")
    if not isinstance(zid, str) or not zid.strip():
        raise bad('zone has no "id" (a non-empty string)')
    zid = zid.strip()
    countries = item.get("allowed_countries") or []
    if not isinstance(countries, list) or not all(isinstance(c, str) for c in countries):
        raise bad(f"zone {zid!r}: allowed_countries must be a list of ISO 3166 alpha-2 codes")
    codes = tuple(sorted({c.strip().upper() for c in countries}))
    wrong = [c for c in codes if len(c) != 2 or not (c.isascii() and c.isalpha())]
    if wrong:
        raise bad(f"zone {zid!r}: not ISO 3166 alpha-2 codes: {', '.join(wrong[:5])}")
    region = item.get("allowed_region")
    if region is not None:
        if not isinstance(region, dict):
            raise bad(f"zone {zid!r}: allowed_region must be a GeoJSON object")
        try:
            polygons = geojson_polygons(region)
            check_polygons(polygons)
        except (ValueError, KeyError, TypeError) as exc:
            raise bad(f"zone {zid!r}: allowed_region is not a valid polygon ({exc})") from None
        if not polygons:
            raise bad(f"zone {zid!r}: allowed_region has no polygons")
    site = None
    slat, slon = item.get("site_lat"), item.get("site_lon")
    if slat is not None or slon is not None:
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (slat, slon)):
            raise bad(f"zone {zid!r}: site_lat and site_lon must both be numbers")
        assert isinstance(slat, int | float) and isinstance(slon, int | float)
        if not (-90 <= slat <= 90 and -180 <= slon <= 180):
            raise bad(f"zone {zid!r}: site position out of range ({slat}, {slon})")
        site = (float(slat), float(slon))
    return Zone(zid, codes, region, site)
