"""Signed agent requests: how an enrolled device proves every request is its own.

The agent signs, with its Ed25519 device key, a canonical string made of the method,
the path, the query string, a Unix time, a fresh nonce and the SHA-256 of the body::

    fleetproof-request-v2\\n{METHOD}\\n{PATH}\\n{QUERY}\\n{time}\\n{nonce}\\n{sha256(body) hex}

and sends it in five headers (``X-Fleetproof-Version: 2`` names the form). The server
accepts a request only if the signature verifies against the key registered at
enrollment, the time is within the replay window of its clock, and the nonce was not
seen before for that device inside the window (nonces are kept in the store, so this
holds across server processes).

Version 1 (no version header) signed the same string without the query and with the
prefix ``fleetproof-request-v1``, so a query string could be added to a signed request
unnoticed. Agents of version 1 are still accepted — but only for requests without a
query string, which is every request such an agent sends — until fleetproof 0.3
(docs/operations.md). Chosen over mutual TLS because it works through any
TLS-terminating proxy and needs no certificate authority.

The server checks a request in the order that keeps an anonymous one cheap: headers and
time first (no I/O), then the device's key, then the body's hash while the body streams
in (:class:`BodyDigest`), and only then the signature; the body is parsed after that.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from fleetproof.protocol.curve25519 import Ed25519PrivateKey, Ed25519PublicKey, InvalidSignature

__all__ = [
    "CURRENT_VERSION",
    "HEADER_DEVICE",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIME",
    "HEADER_VERSION",
    "SignatureProblem",
    "SignedHeaders",
    "body_digest",
    "check_fresh",
    "check_request",
    "check_signature",
    "parse_headers",
    "public_key_from_b64",
    "public_key_to_b64",
    "sign_request",
]

HEADER_DEVICE = "X-Fleetproof-Device"
HEADER_TIME = "X-Fleetproof-Time"
HEADER_NONCE = "X-Fleetproof-Nonce"
HEADER_SIGNATURE = "X-Fleetproof-Signature"
HEADER_VERSION = "X-Fleetproof-Version"
CURRENT_VERSION = 2
_VERSIONS = (1, 2)


class SignatureProblem(Exception):
    """The request's signature headers are missing, malformed, stale or wrong."""


@dataclass(frozen=True)
class SignedHeaders:
    device_id: str
    ts: str
    nonce: str
    signature: bytes
    version: int


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _message(version: int, method: str, path: str, query: str, ts: str, nonce: str, digest: str) -> bytes:
    parts = [f"fleetproof-request-v{version}", method.upper(), path]
    if version >= 2:
        parts.append(query)
    parts += [ts, nonce, digest]
    return "\n".join(parts).encode("utf-8", "surrogateescape")


def public_key_to_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes_raw()).decode()


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """Parse a raw 32-byte Ed25519 public key in base64; ``ValueError`` when it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("public key is not base64") from exc
    if len(raw) != 32:
        raise ValueError("public key must be 32 bytes (raw Ed25519), base64-encoded")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_request(
    key: Ed25519PrivateKey,
    device_id: str,
    method: str,
    path: str,
    body: bytes,
    *,
    query: str = "",
    now: float | None = None,
    version: int = CURRENT_VERSION,
) -> dict[str, str]:
    """The headers that authenticate one request (``version=1`` only to test older agents)."""
    if version not in _VERSIONS or (version == 1 and query):
        raise ValueError(f"cannot sign a version {version} request with query {query!r}")
    ts = f"{time.time() if now is None else now:.3f}"
    nonce = secrets.token_hex(16)
    signature = key.sign(_message(version, method, path, query, ts, nonce, body_digest(body)))
    headers = {
        HEADER_DEVICE: device_id,
        HEADER_TIME: ts,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: base64.b64encode(signature).decode(),
    }
    if version >= 2:
        headers[HEADER_VERSION] = str(version)
    return headers


def parse_headers(headers: Mapping[str, str]) -> SignedHeaders:
    """The signature headers of a request, or :class:`SignatureProblem`."""
    values = [headers.get(h) for h in (HEADER_DEVICE, HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE)]
    if any(v is None or v == "" for v in values):
        raise SignatureProblem("missing request signature headers")
    device_id, ts, nonce, sig = (str(v) for v in values)
    if len(device_id) > 64 or len(nonce) > 64 or len(ts) > 32 or len(sig) > 128:
        raise SignatureProblem("malformed request signature headers")
    raw_version = headers.get(HEADER_VERSION) or "1"
    if raw_version not in {str(v) for v in _VERSIONS}:
        raise SignatureProblem(f"unsupported request signature version {raw_version[:10]!r}")
    try:
        signature = base64.b64decode(sig, validate=True)
    except (ValueError, TypeError) as exc:
        raise SignatureProblem("signature is not base64") from exc
    return SignedHeaders(device_id, ts, nonce, signature, int(raw_version))


def check_fresh(signed: SignedHeaders, *, now: float, window_s: float) -> float:
    """The request's time when it lies within ``window_s`` of ``now``; no key or body needed."""
    try:
        sent = float(signed.ts)
    except ValueError as exc:
        raise SignatureProblem("request time is not a number") from exc
    if not abs(now - sent) <= window_s:
        raise SignatureProblem(
            f"request time is outside the replay window of {window_s:.0f} s (check clocks)"
        )
    return sent


def check_signature(
    public_key: Ed25519PublicKey, signed: SignedHeaders, method: str, path: str, query: str, digest: str
) -> None:
    """Verify the signature over the request and its body's SHA-256 (hex)."""
    if signed.version == 1 and query:
        raise SignatureProblem(
            "a version 1 request signature does not cover the query string; upgrade the agent"
        )
    message = _message(signed.version, method, path, query, signed.ts, signed.nonce, digest)
    try:
        public_key.verify(signed.signature, message)
    except InvalidSignature as exc:
        raise SignatureProblem("request signature does not verify") from exc


def check_request(
    public_key: Ed25519PublicKey,
    signed: SignedHeaders,
    method: str,
    path: str,
    query: str,
    body: bytes,
    *,
    now: float,
    window_s: float,
) -> float:
    """Freshness and signature of a whole request in hand; return its time. Nonce reuse is the caller's."""
    sent = check_fresh(signed, now=now, window_s=window_s)
    check_signature(public_key, signed, method, path, query, body_digest(body))
    return sent
