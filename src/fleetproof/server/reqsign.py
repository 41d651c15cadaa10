"""Signed agent requests: how an enrolled device proves every request is its own.

The agent signs, with its Ed25519 device key, a canonical string made of the method,
the path, a Unix time, a fresh nonce and the SHA-256 of the body::

    fleetproof-request-v1\\n{METHOD}\\n{PATH}\\n{time}\\n{nonce}\\n{sha256(body) hex}

and sends it in four headers. The server accepts a request only if the signature
verifies against the key registered at enrollment, the time is within the replay
window of its clock, and the nonce was not seen before for that device inside the
window (nonces are kept in the store, so this holds across server processes).
Chosen over mutual TLS because it works through any TLS-terminating proxy and
needs no certificate authority; the trade-off is documented in docs/operations.md.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "HEADER_DEVICE",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIME",
    "SignatureProblem",
    "check_request",
    "public_key_from_b64",
    "public_key_to_b64",
    "sign_request",
]

HEADER_DEVICE = "X-Fleetproof-Device"
HEADER_TIME = "X-Fleetproof-Time"
HEADER_NONCE = "X-Fleetproof-Nonce"
HEADER_SIGNATURE = "X-Fleetproof-Signature"
_PREFIX = b"fleetproof-request-v1"


class SignatureProblem(Exception):
    """The request's signature headers are missing, malformed, stale or wrong."""


def _message(method: str, path: str, ts: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return b"\n".join(
        [_PREFIX, method.upper().encode(), path.encode(), ts.encode(), nonce.encode(), digest.encode()]
    )


def public_key_to_b64(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


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
    key: Ed25519PrivateKey, device_id: str, method: str, path: str, body: bytes, *, now: float | None = None
) -> dict[str, str]:
    """The headers that authenticate one request."""
    ts = f"{time.time() if now is None else now:.3f}"
    nonce = secrets.token_hex(16)
    signature = key.sign(_message(method, path, ts, nonce, body))
    return {
        HEADER_DEVICE: device_id,
        HEADER_TIME: ts,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: base64.b64encode(signature).decode(),
    }


def parse_headers(headers: Mapping[str, str]) -> tuple[str, str, str, bytes]:
    """Return (device_id, time, nonce, signature) or raise :class:`SignatureProblem`."""
    values = [headers.get(h) for h in (HEADER_DEVICE, HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE)]
    if any(v is None or v == "" for v in values):
        raise SignatureProblem("missing request signature headers")
    device_id, ts, nonce, sig = (str(v) for v in values)
    if len(device_id) > 64 or len(nonce) > 64 or len(ts) > 32:
        raise SignatureProblem("malformed request signature headers")
    try:
        signature = base64.b64decode(sig, validate=True)
    except (ValueError, TypeError) as exc:
        raise SignatureProblem("signature is not base64") from exc
    return device_id, ts, nonce, signature


def check_request(
    public_key: Ed25519PublicKey,
    method: str,
    path: str,
    ts: str,
    nonce: str,
    signature: bytes,
    body: bytes,
    *,
    now: float,
    window_s: float,
) -> float:
    """Verify signature and freshness; return the request's time. Nonce reuse is the caller's check."""
    try:
        sent = float(ts)
    except ValueError as exc:
        raise SignatureProblem("request time is not a number") from exc
    if not abs(now - sent) <= window_s:
        raise SignatureProblem(
            f"request time is outside the replay window of {window_s:.0f} s (check clocks)"
        )
    try:
        public_key.verify(signature, _message(method, path, ts, nonce, body))
    except InvalidSignature as exc:
        raise SignatureProblem("request signature does not verify") from exc
    return sent
