"""Landmark position statements: a landmark's own signed word on where it stands.

Every verdict rests on landmark positions. In a landmark directory a position is
only a row the fleet operator typed; a :class:`PositionStatement` is the
landmark's operator saying it, under the same Ed25519 key that signs the
landmark's measurement records: "the holder of key K, landmark L, is at (lat,
lon), as of time T". Whoever later checks a record can then check the position
it is measured from against a signature by the very key that signed the record,
without asking the fleet server (``fleetproof evidence verify``).

The statement is self-signed: it shows that the key holder asserts the position,
not that the position is true. Trusting it means trusting the landmark's
operator — which one does anyway for its RTTs — and knowing the key belongs to
that operator (compare it with the key the operator publishes).

Canonical encoding (version 1): ``fleetproof/landmark-position/v1\\n`` followed
by the JSON of every field except ``signature``, keys sorted, no spaces, ASCII
only, no NaN — the same rules as measurement records.

Stable interface::

    PositionStatement                           # pydantic, frozen, version 1
    StatementError(VerificationFailed)
    sign_statement(key, landmark_id=, lat=, lon=, time=) -> PositionStatement
    verify_statement(statement, *, public_key=None, landmark_id=None, lat=None, lon=None) -> None
    read_statement(path) / write_statement(path, statement)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fleetproof.errors import InputError, VerificationFailed, first_error
from fleetproof.files import read_input_text
from fleetproof.probe.keys import (
    public_key_b64,
    public_key_from_b64,
    sign_b64,
    signature_from_b64,
    signed_message,
    write_atomic,
)
from fleetproof.protocol.curve25519 import Ed25519PrivateKey, InvalidSignature

__all__ = [
    "STATEMENT_VERSION",
    "PositionStatement",
    "StatementError",
    "read_statement",
    "sign_statement",
    "statement_bytes",
    "verify_statement",
    "write_statement",
]

STATEMENT_VERSION: Literal[1] = 1
SIGNING_DOMAIN = b"fleetproof/landmark-position/v1\n"


class StatementError(VerificationFailed):
    """A position statement failed a check; the message says which and why."""


class PositionStatement(BaseModel):
    """Landmark ``landmark_id``, holder of ``public_key``, states it is at (``lat``, ``lon``) at ``time``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = STATEMENT_VERSION
    landmark_id: str = Field(min_length=1, max_length=128)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    public_key: str = Field(min_length=44, max_length=44, description="raw Ed25519 key, base64")
    time: float = Field(allow_inf_nan=False, description="Unix time, seconds, when the statement was made")
    signature: str = Field(default="", max_length=100, description="Ed25519 signature by public_key, base64")

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude={"signature"})


def statement_bytes(statement: PositionStatement) -> bytes:
    """The exact bytes the statement's signature covers."""
    return signed_message(SIGNING_DOMAIN, statement.body())


def sign_statement(
    key: Ed25519PrivateKey, *, landmark_id: str, lat: float, lon: float, time: float
) -> PositionStatement:
    """Make and sign a statement (a ``ValueError`` from pydantic when a field is out of range)."""
    unsigned = PositionStatement(
        landmark_id=landmark_id, lat=float(lat), lon=float(lon), public_key=public_key_b64(key), time=time
    )
    return unsigned.model_copy(update={"signature": sign_b64(key, statement_bytes(unsigned))})


def _signature(statement: PositionStatement) -> bytes:
    try:
        return signature_from_b64(statement.signature)
    except ValueError as exc:
        raise StatementError(str(exc)) from None


def verify_statement(
    statement: PositionStatement,
    *,
    public_key: str | None = None,
    landmark_id: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> None:
    """Check the signature under the stated key, and that the statement says what is expected.

    ``public_key``, ``landmark_id``, ``lat`` and ``lon``, when given, must equal the
    statement's: a server registering a landmark passes the registration's values,
    so that a statement for another place or another key is refused.
    """
    who = f"landmark {statement.landmark_id!r}"
    try:
        key = public_key_from_b64(statement.public_key)
    except ValueError as exc:
        raise StatementError(f"{who}: public_key: {exc}") from None
    signature = _signature(statement)
    try:
        message = statement_bytes(statement)
    except ValueError as exc:
        raise StatementError(f"{who}: statement has no canonical encoding: {exc}") from None
    try:
        key.verify(signature, message)
    except InvalidSignature:
        raise StatementError(
            f"{who}: position statement signature does not verify under its public key "
            "(statement altered, or signed by another key)"
        ) from None
    if public_key is not None and public_key.strip() != statement.public_key:
        raise StatementError(f"{who}: the statement is signed by another key than the landmark's")
    if landmark_id is not None and landmark_id != statement.landmark_id:
        raise StatementError(f"the statement is for landmark {statement.landmark_id!r}, not {landmark_id!r}")
    for name, want, got in (("lat", lat, statement.lat), ("lon", lon, statement.lon)):
        if want is not None and not (math.isfinite(want) and float(want) == got):
            raise StatementError(f"{who}: the statement gives {name} {got}, not {want}")


def read_statement(path: str | Path) -> PositionStatement:
    """Read one statement (JSON); a malformed file is an :class:`InputError` naming it."""
    target = Path(path)
    text = read_input_text(target)
    try:
        return PositionStatement.model_validate_json(text)
    except ValidationError as exc:
        problem = first_error(exc, "statement")
        raise InputError(str(target), None, f"not a position statement: {problem}") from None


def write_statement(path: str | Path, statement: PositionStatement) -> None:
    write_atomic(path, (statement.model_dump_json(indent=1) + "\n").encode("utf-8"))
