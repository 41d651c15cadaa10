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

The parts that need no pydantic live in :mod:`fleetproof.probe.record_check` (the limits, the
canonical bytes, signing, :func:`verify_record` and a strict parser the agent's prober uses)
and :mod:`fleetproof.probe.directory` (the landmark directory); they are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fleetproof.errors import InputError, first_error
from fleetproof.files import read_input_text
from fleetproof.probe.directory import (
    DIRECTORY_COLUMNS,
    LandmarkEntry,
    load_landmark_directory,
    write_landmark_directory,
)
from fleetproof.probe.keys import sign_b64, write_atomic
from fleetproof.probe.record_check import (
    MAX_ID,
    MAX_LOST,
    MAX_SAMPLES,
    MAX_SIGNATURE,
    PUBLIC_KEY_B64,
    RECORD_VERSION,
    RecordError,
    canonical_bytes,
    round_ms,
    signed_record_json,
    verify_record,
)
from fleetproof.protocol.curve25519 import Ed25519PrivateKey

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


class MeasurementRecord(BaseModel):
    """One landmark-timed probe session of one device (version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = RECORD_VERSION
    device_id: str = Field(min_length=1, max_length=MAX_ID)
    device_public_key: str = Field(
        min_length=PUBLIC_KEY_B64, max_length=PUBLIC_KEY_B64, description="raw Ed25519 key, base64"
    )
    landmark_id: str = Field(min_length=1, max_length=MAX_ID)
    session_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    samples_ms: list[float] = Field(min_length=1, max_length=MAX_SAMPLES)
    rtt_ms: float = Field(ge=0, description="minimum of samples_ms")
    lost: int = Field(ge=0, le=MAX_LOST, description="nonces sent that got no valid reply in time")
    time: float = Field(
        allow_inf_nan=False, description="Unix time, seconds, when the landmark closed the session"
    )
    signature: str = Field(
        default="", max_length=MAX_SIGNATURE, description="landmark's Ed25519 signature, base64"
    )

    @field_validator("samples_ms")
    @classmethod
    def _samples_finite(cls, value: list[float]) -> list[float]:
        for sample in value:
            if not math.isfinite(sample) or sample < 0:
                raise ValueError(f"sample {sample!r} is not a finite, non-negative number of ms")
        return value

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude={"signature"})


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
    samples = [round_ms(s) for s in samples_ms]
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


def min_rtts(records: Iterable[MeasurementRecord]) -> dict[tuple[str, str], float]:
    """Minimum RTT per (device_id, landmark_id) over all given records."""
    best: dict[tuple[str, str], float] = {}
    for r in records:
        pair = (r.device_id, r.landmark_id)
        if pair not in best or r.rtt_ms < best[pair]:
            best[pair] = r.rtt_ms
    return best
