"""Enrollment: the token's digest, the attestation challenge it yields, and the evidence body.

Both sides know the one-time enrollment token when the agent enrolls, and the server
keeps only its SHA-256. That digest is the attestation challenge: the agent asks its
attestor for evidence over ``binding_nonce(device public key, challenge)`` before it
sends the request, and the server recomputes the nonce from the key in the body and
the digest it already holds — no extra round trip. Once the token is spent its digest
is no secret (nobody can enroll with it again, and it does not reveal the token), so
the challenge can be published in evidence bundles for anyone to recompute the binding.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MAX_ATTESTATION_CLAIMS_BYTES",
    "MAX_ATTESTATION_RAW_CHARS",
    "AttestationBody",
    "enrollment_challenge",
    "hash_token",
]

#: The attestor's parsed claims, as compact JSON, may take at most this many bytes.
MAX_ATTESTATION_CLAIMS_BYTES = 64 * 1024
#: The attestor's untouched output (an nvattest document with its signed tokens) at most this long.
MAX_ATTESTATION_RAW_CHARS = 512 * 1024
#: Claims nest at most this deep (parsed tool output is shallow; a deep one is an attack on the parser).
_MAX_CLAIMS_DEPTH = 12


def hash_token(token: str) -> str:
    """The SHA-256 of an enrollment token, hex: what the server stores instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def enrollment_challenge(token: str) -> bytes:
    """The attestation challenge of an enrollment: the 32-byte SHA-256 of its one-time token."""
    return bytes.fromhex(hash_token(token))


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


class AttestationBody(BaseModel):
    """Evidence binding the device key, as the agent sends it (the fields of the attestor's ``Evidence``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    attestor: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="the attestor's name"
    )
    hardware_bound: bool = Field(description="true only when hardware vouches for the nonce")
    nonce_hex: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="binding_nonce(public key, SHA-256 of the enrollment token), lowercase hex",
    )
    claims: dict[str, Any] = Field(default_factory=dict, description="the attestor's parsed results")
    raw: str = Field(
        default="", max_length=MAX_ATTESTATION_RAW_CHARS, description="the attestor's untouched output"
    )

    @field_validator("claims")
    @classmethod
    def _bounded(cls, claims: dict[str, Any]) -> dict[str, Any]:
        if _depth(claims) > _MAX_CLAIMS_DEPTH:
            raise ValueError(f"nested deeper than {_MAX_CLAIMS_DEPTH} levels")
        size = len(json.dumps(claims, separators=(",", ":"), allow_nan=False).encode())
        if size > MAX_ATTESTATION_CLAIMS_BYTES:
            raise ValueError(f"{size} bytes as JSON, more than {MAX_ATTESTATION_CLAIMS_BYTES}")
        return claims
