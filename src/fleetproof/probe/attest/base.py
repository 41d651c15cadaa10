"""The attestation contract: evidence, the binding nonce, the Attestor protocol and its registry.

Kept apart from the package so that the built-in attestors import it without a circle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AttestationError",
    "Attestor",
    "Evidence",
    "attestor_names",
    "binding_nonce",
    "get_attestor",
    "register_attestor",
]

BINDING_DOMAIN = b"fleetproof/attest/v1"


class AttestationError(Exception):
    """Evidence could not be produced or does not say what it must."""


@dataclass(frozen=True)
class Evidence:
    """What an attestor produced for one key and one challenge.

    ``hardware_bound`` is True only when the evidence comes from hardware that
    vouches for the nonce; ``claims`` are the attestor's parsed results and
    ``raw`` the untouched tool output, for a verifier to check again.
    """

    attestor: str
    hardware_bound: bool
    nonce_hex: str
    claims: dict[str, Any] = field(default_factory=dict)
    raw: str = ""


class Attestor(Protocol):
    name: str

    def available(self) -> bool:
        """Whether this attestor can run on this host (tool present, device present)."""
        ...

    def attest(self, public_key: bytes, challenge: bytes) -> Evidence:
        """Evidence over ``binding_nonce(public_key, challenge)``; raise AttestationError."""
        ...


def binding_nonce(public_key: bytes, challenge: bytes) -> bytes:
    """The 32-byte nonce under which hardware evidence names this key and this challenge."""
    return hashlib.sha256(BINDING_DOMAIN + public_key + challenge).digest()


_REGISTRY: dict[str, Callable[[], Attestor]] = {}


def register_attestor(name: str, factory: Callable[[], Attestor]) -> None:
    if name in _REGISTRY:
        raise ValueError(f"attestor {name!r} is already registered")
    _REGISTRY[name] = factory


def get_attestor(name: str) -> Callable[[], Attestor]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no attestor {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def attestor_names() -> list[str]:
    return sorted(_REGISTRY)
