"""CSV input with errors a person can act on: file, line and problem.

Every reader validates everything it reads (columns, numbers, ranges, ids)
and raises :class:`~fleetproof.errors.InputError` at the first problem. The
RTT reader has a vectorised fast path (:mod:`fleetproof.batch.rtts`) for the
common shape; anything unusual falls back to the ``csv`` module here.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fleetproof.errors import InputError
from fleetproof.geo import Claim, Landmark, MeshLink

__all__ = [
    "RttTable",
    "check_unique",
    "not_utf8",
    "read_claims",
    "read_landmarks",
    "read_mesh",
    "read_rtts",
]


def _rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; checks the file is there, non-empty and has the columns."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read file: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise InputError(str(path), None, "file is empty")
            names = [h.strip().lower() for h in header]
            twice = sorted({n for n in names if n and names.count(n) > 1})
            if twice:
                raise InputError(str(path), 1, f"column(s) {', '.join(twice)} appear more than once")
            missing = [c for c in required if c not in names]
            if missing:
                raise InputError(
                    str(path), 1, f"missing column(s) {', '.join(missing)}; expected {','.join(required)}"
                )
            seen_rows = False
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                seen_rows = True
                if len(row) > len(names):
                    raise InputError(
                        str(path), reader.line_num, f"{len(row)} fields, header has {len(names)}"
                    )
                yield (
                    reader.line_num,
                    {n: (row[i].strip() if i < len(row) else "") for i, n in enumerate(names)},
                )
            if not seen_rows:
                raise InputError(str(path), None, "file has a header but no data rows")
        except UnicodeDecodeError:
            raise not_utf8(path) from None
        except csv.Error as exc:
            raise InputError(str(path), reader.line_num, f"malformed CSV: {exc}") from None


def not_utf8(path: Path) -> InputError:
    """The error for a file that is not UTF-8, with the line of its first bad byte.

    Only called once decoding has failed, so the file is read a second time just then.
    """
    try:
        data = path.read_bytes()
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1
        return InputError(str(path), line, f"not UTF-8 text (byte {data[exc.start]:#04x})")
    except OSError:
        pass
    return InputError(str(path), None, "file is not UTF-8 text")


def _number(path: Path, line: int, column: str, text: str) -> float:
    if text == "":
        raise InputError(str(path), line, f"{column} is empty")
    try:
        value = float(text)
    except ValueError:
        raise InputError(str(path), line, f"{column} is not a number: {text!r}") from None
    if math.isnan(value) or math.isinf(value):
        raise InputError(str(path), line, f"{column} must be a finite number, got {text!r}")
    return value


def _rtt(path: Path, line: int, text: str) -> float:
    value = _number(path, line, "rtt_ms", text)
    if value < 0:
        raise InputError(str(path), line, f"rtt_ms must not be negative, got {text!r}")
    return value


def _latlon(path: Path, line: int, lat_text: str, lon_text: str) -> tuple[float, float]:
    lat = _number(path, line, "lat", lat_text)
    lon = _number(path, line, "lon", lon_text)
    if not -90.0 <= lat <= 90.0:
        raise InputError(str(path), line, f"lat out of range [-90, 90]: {lat_text!r}")
    if not -180.0 <= lon <= 180.0:
        raise InputError(str(path), line, f"lon out of range [-180, 180]: {lon_text!r}")
    return lat, lon


def check_unique(path: Path, line: int, first: dict[str, int], what: str, ident: str) -> None:
    """Note that ``ident`` (a ``what`` id) is on ``line``; an :class:`InputError` when an earlier line had it.

    ``first`` maps each id seen so far to its line, so the error names both places.
    """
    if ident in first:
        raise InputError(str(path), line, f"duplicate {what} id {ident!r} (first on line {first[ident]})")
    first[ident] = line


def read_landmarks(path: Path) -> list[Landmark]:
    """``id,lat,lon[,country]``; ids unique, positions in range, country a 2-letter code when given."""
    out: list[Landmark] = []
    first: dict[str, int] = {}
    for line, row in _rows(path, ("id", "lat", "lon")):
        lid = row["id"]
        if not lid:
            raise InputError(str(path), line, "id is empty")
        check_unique(path, line, first, "landmark", lid)
        lat, lon = _latlon(path, line, row["lat"], row["lon"])
        country = row.get("country", "").upper() or None
        if country is not None and (len(country) != 2 or not (country.isascii() and country.isalpha())):
            raise InputError(
                str(path), line, f"country must be an ISO 3166 alpha-2 code, got {row['country']!r}"
            )
        out.append(Landmark(lid, lat, lon, country))
    return out


def read_mesh(path: Path, known: Mapping[str, int]) -> list[MeshLink]:
    """``a,b,rtt_ms`` between known landmarks; rows with ``a == b`` (loopback) are skipped."""
    out: list[MeshLink] = []
    for line, row in _rows(path, ("a", "b", "rtt_ms")):
        for col in ("a", "b"):
            if row[col] not in known:
                raise InputError(str(path), line, f"unknown landmark id {row[col]!r} in column {col}")
        rtt = _rtt(path, line, row["rtt_ms"])
        if row["a"] != row["b"]:
            out.append(MeshLink(row["a"], row["b"], rtt))
    return out


@dataclass(frozen=True)
class RttTable:
    """Targets in first-seen order and their minimum RTT to each landmark: ``rtt`` is (targets, landmarks)."""

    targets: list[str]
    rtt: np.ndarray
    rows: int

    @property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.targets)}


def read_rtts(path: Path, landmark_ids: Sequence[str]) -> RttTable:
    """``target,landmark,rtt_ms`` → the minimum RTT per (target, landmark), NaN where unmeasured.

    Files in the plain shape are parsed in bulk by :mod:`fleetproof.batch.rtts`; anything
    else by the careful reader below. Duplicate rows keep the smallest RTT.
    """
    from fleetproof.batch.rtts import parse_fast

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read file: {exc.strerror or exc}") from None
    parsed = parse_fast(path, data, landmark_ids)
    if parsed is None:
        parsed = _rtts_slow(path, landmark_ids)
    targets, t_idx, l_idx, values = parsed
    table = np.full((len(targets), len(landmark_ids)), np.inf)
    np.minimum.at(table, (t_idx, l_idx), values)
    table[np.isinf(table)] = np.nan
    return RttTable(targets, table, int(values.size))


def _rtts_slow(
    path: Path, landmark_ids: Sequence[str]
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    lmap = {lid: i for i, lid in enumerate(landmark_ids)}
    tmap: dict[str, int] = {}
    ts: list[int] = []
    ls: list[int] = []
    vs: list[float] = []
    for line, row in _rows(path, ("target", "landmark", "rtt_ms")):
        if not row["target"]:
            raise InputError(str(path), line, "target is empty")
        j = lmap.get(row["landmark"])
        if j is None:
            raise InputError(str(path), line, f"unknown landmark id {row['landmark']!r}")
        vs.append(_rtt(path, line, row["rtt_ms"]))
        ts.append(tmap.setdefault(row["target"], len(tmap)))
        ls.append(j)
    return list(tmap), np.array(ts, dtype=np.int64), np.array(ls, dtype=np.int64), np.array(vs)


def read_claims(
    path: Path, country_codes: Sequence[str], regions: Mapping[str, Mapping[str, object]] | None = None
) -> list[Claim]:
    """``claim,target,lat,lon,country``: a point if lat/lon are given, else countries (``DE;AT``) or a region.

    The country column may list several alpha-2 codes separated by ``;`` (a zone that
    allows several), or name one region from ``--regions``.
    """
    known = set(country_codes)
    regions = regions or {}
    out: list[Claim] = []
    first: dict[str, int] = {}
    for line, row in _rows(path, ("claim", "target", "lat", "lon", "country")):
        cid, target = row["claim"], row["target"]
        if not cid:
            raise InputError(str(path), line, "claim is empty")
        if not target:
            raise InputError(str(path), line, "target is empty")
        check_unique(path, line, first, "claim", cid)
        if row["lat"] or row["lon"]:
            lat, lon = _latlon(path, line, row["lat"], row["lon"])
            out.append(Claim.point(cid, target, lat, lon))
            continue
        text = row["country"]
        if not text:
            raise InputError(str(path), line, "claim has neither lat/lon nor country")
        if text in regions:
            out.append(Claim.in_region(cid, target, regions[text], name=text))
            continue
        codes = [c.strip().upper() for c in text.replace("|", ";").split(";") if c.strip()]
        unknown = [c for c in codes if c not in known]
        if not codes or unknown:
            raise InputError(
                str(path), line, f"unknown country code or region {', '.join(unknown) or text!r}"
            )
        out.append(Claim.country(cid, target, *codes))
    return out
