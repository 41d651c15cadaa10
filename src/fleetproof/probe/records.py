"""Signed measurement records, their JSON-lines files, and the landmark directory.

A :class:`MeasurementRecord` is what a landmark states after timing one probe
session: "I, landmark L, sent k fresh nonces to the holder of device key D and
got valid replies after these round-trip times". The landmark signs it with its
Ed25519 key over a canonical encoding, so the record can travel through the
device, the agent's outbox and the server without any of them being able to
change a number: a record whose ``rtt_ms`` was edited no longer verifies.

Canonical encoding (version 1): the bytes ``fleetproof/measurement/v1\\n``
followed by the JSON of every field except ``signature``, keys sorted, no
spaces, ASCII only, no NaN. Sample times are rounded to whole nanoseconds
(6 decimals of a millisecond) before signing, so they survive a JSON round trip.

Stable interface (the server verifies every ingested record with it)::

    MeasurementRecord                    # pydantic, frozen, version 1
    RecordError(VerificationFailed)      # says why a record fails
    verify_record(record, landmark_public_key, *, device_public_key=None) -> None  # or RecordError
    sign_record(fields..., key) -> MeasurementRecord     # used by the landmark
    read_records(path) / write_records(path, records)    # JSON lines, atomic write
    LandmarkEntry, load_landmark_directory(path), write_landmark_directory(path, entries)
    min_rtts(records) -> dict[(device_id, landmark_id), rtt_ms]

The server must also check that ``device_public_key`` is the key it enrolled for
``device_id``; a landmark only vouches for the key that answered, not for a name.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fleetproof.errors import InputError, VerificationFailed, first_error
from fleetproof.files import read_input_text
from fleetproof.netaddr import AddressError, parse_host_port
from fleetproof.probe.keys import (
    public_key_b64,
    public_key_from_b64,
    sign_b64,
    signature_from_b64,
    signed_message,
    write_atomic,
)

__all__ = [
    "DIRECTORY_COLUMNS",
    "RECORD_VERSION",
    "LandmarkEntry",
    "MeasurementRecord",
    "RecordError",
    "canonical_bytes",
    "load_landmark_directory",
    "min_rtts",
    "read_records",
    "sign_record",
    "signed_record_json",
    "verify_record",
    "write_landmark_directory",
    "write_records",
]

RECORD_VERSION: Literal[1] = 1
SIGNING_DOMAIN = b"fleetproof/measurement/v1\n"
DIRECTORY_COLUMNS = ("id", "lat", "lon", "address", "public_key")
MAX_SAMPLES = 64


class RecordError(VerificationFailed):
    """A measurement record failed a check; the message says which and why."""


def _round_ms(value: float) -> float:
    return round(float(value), 6)


class MeasurementRecord(BaseModel):
    """One landmark-timed probe session of one device (version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = RECORD_VERSION
    device_id: str = Field(min_length=1, max_length=128)
    device_public_key: str = Field(min_length=44, max_length=44, description="raw Ed25519 key, base64")
    landmark_id: str = Field(min_length=1, max_length=128)
    session_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    samples_ms: list[float] = Field(min_length=1, max_length=MAX_SAMPLES)
    rtt_ms: float = Field(ge=0, description="minimum of samples_ms")
    lost: int = Field(ge=0, le=1024, description="nonces sent that got no valid reply in time")
    time: float = Field(
        allow_inf_nan=False, description="Unix time, seconds, when the landmark closed the session"
    )
    signature: str = Field(default="", max_length=100, description="landmark's Ed25519 signature, base64")

    @field_validator("samples_ms")
    @classmethod
    def _samples_finite(cls, value: list[float]) -> list[float]:
        for sample in value:
            if not math.isfinite(sample) or sample < 0:
                raise ValueError(f"sample {sample!r} is not a finite, non-negative number of ms")
        return value

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude={"signature"})


def canonical_bytes(record: MeasurementRecord) -> bytes:
    """The exact bytes the landmark's signature covers."""
    return signed_message(SIGNING_DOMAIN, record.body())


def sign_record(
    *,
    key: Ed25519PrivateKey,
    device_id: str,
    device_public_key: str,
    landmark_id: str,
    session_id: str,
    samples_ms: Sequence[float],
    lost: int,
    time: float,
) -> MeasurementRecord:
    samples = [_round_ms(s) for s in samples_ms]
    unsigned = MeasurementRecord(
        device_id=device_id,
        device_public_key=device_public_key,
        landmark_id=landmark_id,
        session_id=session_id,
        samples_ms=samples,
        rtt_ms=min(samples),
        lost=lost,
        time=time,
    )
    return unsigned.model_copy(update={"signature": sign_b64(key, canonical_bytes(unsigned))})


def signed_record_json(
    *,
    key: Ed25519PrivateKey,
    device_id: str,
    device_public_key: str,
    landmark_id: str,
    session_id: str,
    samples_ms: Sequence[float],
    lost: int,
    time: float,
) -> bytes:
    """The JSON of the record :func:`sign_record` would make, without building a model.

    The landmark signs a record per session; skipping pydantic here saves a
    third of that cost. Its inputs come from the landmark's own state, which
    already satisfies the model's constraints; a test pins that the bytes
    parse to exactly the record :func:`sign_record` returns.
    """
    samples = [_round_ms(s) for s in samples_ms]
    body: dict[str, Any] = {
        "version": RECORD_VERSION,
        "device_id": device_id,
        "device_public_key": device_public_key,
        "landmark_id": landmark_id,
        "session_id": session_id,
        "samples_ms": samples,
        "rtt_ms": min(samples),
        "lost": int(lost),
        "time": float(time),
    }
    body["signature"] = sign_b64(key, signed_message(SIGNING_DOMAIN, body))
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def verify_record(
    record: MeasurementRecord,
    landmark_public_key: Ed25519PublicKey | str,
    *,
    device_public_key: str | None = None,
) -> None:
    """Check every field and the landmark's signature; raise :class:`RecordError` saying why.

    Pass ``device_public_key`` (base64, as enrolled) to also require that the
    record was measured for that key — what the fleet server does on ingest.
    """
    if isinstance(landmark_public_key, str):
        try:
            landmark_public_key = public_key_from_b64(landmark_public_key)
        except ValueError as exc:
            raise RecordError(f"landmark key: {exc}") from None
    if record.rtt_ms != min(record.samples_ms):
        raise RecordError(
            f"rtt_ms {record.rtt_ms} is not the minimum of samples_ms ({min(record.samples_ms)})"
        )
    if any(s != _round_ms(s) for s in record.samples_ms):
        raise RecordError("samples_ms carry more than nanosecond precision")
    try:
        public_key_from_b64(record.device_public_key)
    except ValueError as exc:
        raise RecordError(f"device_public_key: {exc}") from None
    try:
        signature = signature_from_b64(record.signature)
    except ValueError as exc:
        raise RecordError(str(exc)) from None
    try:
        message = canonical_bytes(record)
    except ValueError as exc:  # a NaN or infinity that bypassed validation has no canonical form
        raise RecordError(f"record has no canonical encoding: {exc}") from None
    try:
        landmark_public_key.verify(signature, message)
    except InvalidSignature:
        raise RecordError(
            f"signature does not verify under landmark {record.landmark_id!r}'s key "
            "(record altered, or signed by another key)"
        ) from None
    if device_public_key is not None and record.device_public_key != device_public_key.strip():
        raise RecordError(
            f"record was measured for another device key, not the one enrolled for {record.device_id!r}"
        )


def read_records(path: str | Path) -> list[MeasurementRecord]:
    """Read a JSON-lines file; a malformed line is an InputError naming it."""
    target = Path(path)
    text = read_input_text(target)
    records: list[MeasurementRecord] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(MeasurementRecord.model_validate_json(line))
        except ValidationError as exc:
            raise InputError(
                str(target), number, f"not a measurement record: {first_error(exc, 'record')}"
            ) from None
    return records


def write_records(path: str | Path, records: Iterable[MeasurementRecord]) -> None:
    data = "".join(r.model_dump_json() + "\n" for r in records)
    write_atomic(path, data.encode("utf-8"))


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


def min_rtts(records: Iterable[MeasurementRecord]) -> dict[tuple[str, str], float]:
    """Minimum RTT per (device_id, landmark_id) over all given records."""
    best: dict[tuple[str, str], float] = {}
    for r in records:
        pair = (r.device_id, r.landmark_id)
        if pair not in best or r.rtt_ms < best[pair]:
            best[pair] = r.rtt_ms
    return best
