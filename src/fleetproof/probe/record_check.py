"""Measurement records without pydantic: their fields, canonical bytes, signature, and a strict parser.

:class:`~fleetproof.probe.records.MeasurementRecord` (pydantic) is the record's declared form,
used by the server, the CLI and evidence bundles. The agent's prober checks every record a
landmark sends it, but loading pydantic for that alone would add about 10 MB to the agent's
resident memory, so the prober parses records with :func:`parse_record_json` into a :class:`SignedRecord`
instead: the same fields, the same limits (checked explicitly, each failure saying which field
and why), the same canonical bytes and the same signature check (:func:`verify_record` takes
either form). ``tests/probe/test_record_check.py`` pins that both forms declare the same fields
and limits and accept and refuse the same records. Where they differ, this parser is the
stricter one: numbers must be JSON numbers and ``version`` the number 1 (pydantic's lax mode
also takes ``"1.5"`` and ``true``); the landmark writes records with :func:`signed_record_json`,
which never spells them otherwise.

The landmark signs with :func:`signed_record_json`, here too, so that the landmark daemon does
not need pydantic either.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol

from fleetproof.errors import VerificationFailed
from fleetproof.probe.keys import public_key_from_b64, sign_b64, signature_from_b64, signed_message
from fleetproof.protocol.curve25519 import Ed25519PrivateKey, Ed25519PublicKey, InvalidSignature

__all__ = [
    "MAX_SAMPLES",
    "RECORD_VERSION",
    "SIGNING_DOMAIN",
    "RecordError",
    "RecordLike",
    "SignedRecord",
    "canonical_bytes",
    "parse_record_json",
    "round_ms",
    "signed_record_json",
    "verify_record",
]

RECORD_VERSION: Literal[1] = 1
SIGNING_DOMAIN = b"fleetproof/measurement/v1\n"
MAX_SAMPLES = 64
MAX_ID = 128  # device_id, landmark_id
PUBLIC_KEY_B64 = 44  # 32 raw bytes in base64
MAX_SIGNATURE = 100
MAX_LOST = 1024
_SESSION_ID = re.compile(r"[0-9a-f]{16}")


class RecordError(VerificationFailed):
    """A measurement record failed a check; the message says which and why."""


def round_ms(value: float) -> float:
    """A time in ms rounded to whole nanoseconds, as it is signed."""
    return round(float(value), 6)


class RecordLike(Protocol):
    """What the checks read of a record: :class:`SignedRecord` and ``MeasurementRecord`` both have it."""

    @property
    def device_id(self) -> str: ...
    @property
    def device_public_key(self) -> str: ...
    @property
    def landmark_id(self) -> str: ...
    @property
    def samples_ms(self) -> Sequence[float]: ...
    @property
    def rtt_ms(self) -> float: ...
    @property
    def signature(self) -> str: ...

    def body(self) -> dict[str, Any]: ...


@dataclass(frozen=True, kw_only=True)
class SignedRecord:
    """A measurement record as the prober keeps it: the fields of ``MeasurementRecord``, in order."""

    version: Literal[1] = RECORD_VERSION
    device_id: str
    device_public_key: str
    landmark_id: str
    session_id: str
    samples_ms: list[float]
    rtt_ms: float
    lost: int
    time: float
    signature: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: what ``MeasurementRecord.model_dump(mode="json")`` gives."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"samples_ms": list(self.samples_ms)}

    def body(self) -> dict[str, Any]:
        """Every field but the signature: what the signature covers."""
        out = self.to_dict()
        del out["signature"]
        return out


def canonical_bytes(record: RecordLike) -> bytes:
    """The exact bytes the landmark's signature covers."""
    return signed_message(SIGNING_DOMAIN, record.body())


def _text(data: Mapping[str, Any], name: str, low: int, high: int) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected a string, got {type(value).__name__}")
    if not low <= len(value) <= high:
        size = f"exactly {low}" if low == high else f"{low} to {high}"
        raise RecordError(f"{name}: must be {size} characters long, not {len(value)}")
    return value


def _float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise RecordError(f"{name}: {value!r} is not a finite number")
    return float(value)


def _fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The record's fields, each checked against the limits ``MeasurementRecord`` declares."""
    names = [f.name for f in fields(SignedRecord)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise RecordError(f"unknown field(s): {', '.join(unknown[:5])}")
    missing = [n for n in names if n not in data and n not in ("version", "signature")]
    if missing:
        raise RecordError(f"missing field(s): {', '.join(missing)}")
    version = data.get("version", RECORD_VERSION)
    if isinstance(version, bool) or version != RECORD_VERSION:
        raise RecordError(f"version: {version!r} is not {RECORD_VERSION}")
    session_id = data["session_id"]
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        raise RecordError("session_id: must be 16 lowercase hexadecimal digits")
    samples = data["samples_ms"]
    if not isinstance(samples, list) or not 1 <= len(samples) <= MAX_SAMPLES:
        raise RecordError(f"samples_ms: must be a list of 1 to {MAX_SAMPLES} numbers")
    checked = [_float("samples_ms", s) for s in samples]
    for sample in checked:
        if sample < 0:
            raise RecordError(f"samples_ms: sample {sample!r} is not a finite, non-negative number of ms")
    rtt_ms = _float("rtt_ms", data["rtt_ms"])
    if rtt_ms < 0:
        raise RecordError(f"rtt_ms: {rtt_ms!r} is negative")
    lost = data["lost"]
    if isinstance(lost, float) and lost.is_integer():
        lost = int(lost)
    if isinstance(lost, bool) or not isinstance(lost, int) or not 0 <= lost <= MAX_LOST:
        raise RecordError(f"lost: must be an integer from 0 to {MAX_LOST}, not {lost!r}")
    return {
        "version": RECORD_VERSION,
        "device_id": _text(data, "device_id", 1, MAX_ID),
        "device_public_key": _text(data, "device_public_key", PUBLIC_KEY_B64, PUBLIC_KEY_B64),
        "landmark_id": _text(data, "landmark_id", 1, MAX_ID),
        "session_id": session_id,
        "samples_ms": checked,
        "rtt_ms": rtt_ms,
        "lost": lost,
        "time": _float("time", data["time"]),
        "signature": _text(data, "signature", 0, MAX_SIGNATURE) if "signature" in data else "",
    }


def parse_record_json(body: bytes | str) -> SignedRecord:
    """A record from its JSON, every field checked (the signature is :func:`verify_record`'s job)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    return SignedRecord(**_fields(data))


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
    """The JSON of a record signed with ``key``, built without a model (the landmark's per-session path).

    Its inputs come from the landmark's own state, which already satisfies the record's limits;
    a test pins that the bytes parse to exactly the record ``records.sign_record`` returns.
    """
    samples = [round_ms(s) for s in samples_ms]
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
    record: RecordLike,
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
    if any(s != round_ms(s) for s in record.samples_ms):
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
