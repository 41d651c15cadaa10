"""The landmark directory ``DIR.csv``: each landmark's id, position, address and public key.

Apart from :mod:`fleetproof.probe.records` (which re-exports it) because it needs no pydantic:
the agent's prober reads the directory and must not load pydantic (see
:mod:`fleetproof.probe.record_check`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fleetproof.errors import InputError
from fleetproof.files import read_input_text
from fleetproof.netaddr import AddressError, parse_host_port
from fleetproof.probe.keys import public_key_b64, public_key_from_b64, write_atomic
from fleetproof.protocol.curve25519 import Ed25519PublicKey

__all__ = [
    "DIRECTORY_COLUMNS",
    "LandmarkEntry",
    "load_landmark_directory",
    "write_landmark_directory",
]

DIRECTORY_COLUMNS = ("id", "lat", "lon", "address", "public_key")


@dataclass(frozen=True)
class LandmarkEntry:
    """One row of the landmark directory ``DIR.csv``."""

    id: str
    lat: float
    lon: float
    address: str
    public_key: Ed25519PublicKey

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    @property
    def public_key_b64(self) -> str:
        return public_key_b64(self.public_key)


def _parse_address(text: str) -> str:
    try:
        parse_host_port(text, need_host=True)  # others connect to it: a host and a real port
    except AddressError as exc:
        raise ValueError(f"address {exc}") from None
    return text


def _parse_directory_row(row: Mapping[str, str | None]) -> LandmarkEntry:
    values = {c: (row.get(c) or "").strip() for c in DIRECTORY_COLUMNS}
    if not values["id"]:
        raise ValueError("id is empty")
    try:
        lat, lon = float(values["lat"]), float(values["lon"])
    except ValueError:
        raise ValueError(f"lat/lon are not numbers: {values['lat']!r}, {values['lon']!r}") from None
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise ValueError(f"lat {values['lat']} is out of range -90..90")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise ValueError(f"lon {values['lon']} is out of range -180..180")
    address = _parse_address(values["address"])
    key = public_key_from_b64(values["public_key"])
    return LandmarkEntry(values["id"], lat, lon, address, key)


def load_landmark_directory(path: str | Path) -> dict[str, LandmarkEntry]:
    """Read ``DIR.csv`` (``id,lat,lon,address,public_key``); errors name the file and line."""
    target = Path(path)
    text = read_input_text(target, encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise InputError(str(target), None, "file is empty")
    missing = [c for c in DIRECTORY_COLUMNS if c not in [f.strip() for f in reader.fieldnames]]
    if missing:
        raise InputError(str(target), 1, f"missing column(s): {', '.join(missing)}")
    reader.fieldnames = [f.strip() for f in reader.fieldnames]
    entries: dict[str, LandmarkEntry] = {}
    for row in reader:
        line = reader.line_num
        try:
            entry = _parse_directory_row(row)
        except ValueError as exc:
            raise InputError(str(target), line, str(exc)) from None
        if entry.id in entries:
            raise InputError(str(target), line, f"duplicate landmark id {entry.id!r}")
        entries[entry.id] = entry
    if not entries:
        raise InputError(str(target), None, "no landmarks listed")
    return entries


def write_landmark_directory(path: str | Path, entries: Iterable[LandmarkEntry]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DIRECTORY_COLUMNS)
    for e in entries:
        writer.writerow([e.id, repr(e.lat), repr(e.lon), e.address, e.public_key_b64])
    write_atomic(path, out.getvalue().encode("utf-8"))
