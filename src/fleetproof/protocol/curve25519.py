"""Ed25519 signatures and X25519 key agreement: the one place fleetproof touches them.

Every signature the project makes or checks (request signatures, landmark records,
position statements, the probe handshake, audit checkpoints) and the probe protocol's
ephemeral key agreement go through this module, so the library behind them is chosen
once. It is libsodium, through PyNaCl's low-level ``nacl.bindings``: on an enrolled
agent it costs about 1 MB of resident memory where ``cryptography`` (a Rust extension
with its own OpenSSL) cost 8 MB, and the agent must stay under 40 MB
(docs/benchmarks.md). The classes keep the method names of ``cryptography``'s, so a
reader who knows one knows the other, and ``cryptography`` remains a development
dependency only, as an independent implementation for interoperability tests.

Private keys are stored as PKCS#8 PEM (``BEGIN PRIVATE KEY``), the form other tools
read. An unencrypted Ed25519 key has exactly one such form (RFC 8410): a fixed
16-byte DER prefix and the 32-byte seed, so it is written and parsed here without an
ASN.1 library, and anything else is refused with a message that says what it is.

Verification is libsodium's, which is stricter than OpenSSL's at the edges (it refuses
public keys of small order and non-canonical signature points); no honest key or
signature is affected.

Nothing here imports from the rest of fleetproof (``protocol`` imports neither side), so
the agent, the landmark, the server and the evidence verifier all share it.
"""

from __future__ import annotations

import base64
import binascii
import os

from nacl.bindings import (
    crypto_scalarmult,
    crypto_scalarmult_base,
    crypto_sign,
    crypto_sign_open,
    crypto_sign_seed_keypair,
)
from nacl.exceptions import BadSignatureError
from nacl.exceptions import RuntimeError as SodiumError

__all__ = [
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "InvalidSignature",
    "X25519PrivateKey",
    "X25519PublicKey",
    "private_key_from_pem",
    "private_key_to_pem",
]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
SEED_BYTES = 32

# DER of PrivateKeyInfo { version 0, AlgorithmIdentifier { 1.3.101.112 (id-Ed25519) },
# OCTET STRING { OCTET STRING seed } } up to the seed (RFC 8410, section 7).
_PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_PKCS8_LENGTH = len(_PKCS8_ED25519_PREFIX) + SEED_BYTES
# The algorithm identifiers of other RFC 8410 keys, to name them in a refusal.
_OTHER_ALGORITHMS = {
    bytes.fromhex("06032b656e"): "an X25519 key",
    bytes.fromhex("06032b656f"): "an X448 key",
    bytes.fromhex("06032b6571"): "an Ed448 key",
}
_ED25519_OID = bytes.fromhex("06032b6570")
_PEM_BEGIN = "-----BEGIN PRIVATE KEY-----"
_PEM_END = "-----END PRIVATE KEY-----"


class InvalidSignature(Exception):
    """The signature does not verify under the key for this message."""


def _raw32(data: bytes, what: str) -> bytes:
    """``data`` as exactly 32 immutable bytes; the C functions read 32 bytes whatever they get."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


class Ed25519PublicKey:
    """A raw 32-byte Ed25519 public key; equal keys compare equal and hash alike."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        self._raw = _raw32(raw, "an Ed25519 public key")

    @classmethod
    def from_public_bytes(cls, raw: bytes) -> Ed25519PublicKey:
        return cls(raw)

    def public_bytes_raw(self) -> bytes:
        return self._raw

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return if ``signature`` is this key's over ``message``; raise :class:`InvalidSignature` if not."""
        sig = bytes(signature)
        if len(sig) != SIGNATURE_BYTES:
            raise InvalidSignature(f"a signature is {SIGNATURE_BYTES} bytes, got {len(sig)}")
        try:
            crypto_sign_open(sig + bytes(message), self._raw)
        except BadSignatureError:
            raise InvalidSignature("signature does not verify") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ed25519PublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash((Ed25519PublicKey, self._raw))

    def __repr__(self) -> str:
        return f"Ed25519PublicKey({base64.b64encode(self._raw).decode('ascii')})"


class Ed25519PrivateKey:
    """An Ed25519 signing key, held as its 32-byte seed (and libsodium's expanded form)."""

    __slots__ = ("_public", "_secret", "_seed")

    def __init__(self, seed: bytes) -> None:
        self._seed = _raw32(seed, "an Ed25519 private key (seed)")
        public, self._secret = crypto_sign_seed_keypair(self._seed)
        self._public = Ed25519PublicKey(public)

    @classmethod
    def generate(cls) -> Ed25519PrivateKey:
        return cls(os.urandom(SEED_BYTES))

    @classmethod
    def from_private_bytes(cls, seed: bytes) -> Ed25519PrivateKey:
        return cls(seed)

    def private_bytes_raw(self) -> bytes:
        return self._seed

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        """The 64-byte signature over ``message`` (deterministic, RFC 8032)."""
        return crypto_sign(bytes(message), self._secret)[:SIGNATURE_BYTES]

    def __repr__(self) -> str:  # never the seed: keys end up in tracebacks and logs
        return f"Ed25519PrivateKey(public={self._public!r})"


class X25519PublicKey:
    """A raw 32-byte X25519 public key (a Montgomery u-coordinate)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        self._raw = _raw32(raw, "an X25519 public key")

    @classmethod
    def from_public_bytes(cls, raw: bytes) -> X25519PublicKey:
        return cls(raw)

    def public_bytes_raw(self) -> bytes:
        return self._raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, X25519PublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash((X25519PublicKey, self._raw))


class X25519PrivateKey:
    """An X25519 key for one key agreement (the probe protocol's ephemeral halves)."""

    __slots__ = ("_public", "_scalar")

    def __init__(self, scalar: bytes) -> None:
        self._scalar = _raw32(scalar, "an X25519 private key")
        self._public = X25519PublicKey(crypto_scalarmult_base(self._scalar))

    @classmethod
    def generate(cls) -> X25519PrivateKey:
        return cls(os.urandom(32))

    @classmethod
    def from_private_bytes(cls, scalar: bytes) -> X25519PrivateKey:
        return cls(scalar)

    def private_bytes_raw(self) -> bytes:
        return self._scalar

    def public_key(self) -> X25519PublicKey:
        return self._public

    def exchange(self, peer: X25519PublicKey) -> bytes:
        """The 32-byte shared secret; ``ValueError`` when ``peer`` is of small order (all-zero secret)."""
        try:
            return crypto_scalarmult(self._scalar, peer.public_bytes_raw())
        except SodiumError:
            raise ValueError("the peer's X25519 key is of small order: no shared secret") from None

    def __repr__(self) -> str:
        return "X25519PrivateKey(...)"


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    """The unencrypted PKCS#8 PEM of ``key``, byte for byte what OpenSSL writes for it."""
    der = _PKCS8_ED25519_PREFIX + key.private_bytes_raw()
    return f"{_PEM_BEGIN}\n{base64.b64encode(der).decode('ascii')}\n{_PEM_END}\n".encode("ascii")


def private_key_from_pem(data: bytes) -> Ed25519PrivateKey:
    """Parse an unencrypted PKCS#8 PEM Ed25519 private key; ``ValueError`` saying what it is if not.

    Line endings and blank lines around the block do not matter; the messages never
    quote the file's content, which may be key material.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("not a PEM file (it is not ASCII text)") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("-----BEGIN "):
        raise ValueError("not a PEM private key (no -----BEGIN line)")
    label = lines[0].removeprefix("-----BEGIN ").removesuffix("-----")
    if lines[0] != _PEM_BEGIN:
        if label == "ENCRYPTED PRIVATE KEY":
            raise ValueError("an encrypted PEM private key; fleetproof needs an unencrypted one")
        raise ValueError(f"a PEM {label[:40]!r}, not an unencrypted PEM private key (BEGIN PRIVATE KEY)")
    try:
        end = lines.index(_PEM_END)
    except ValueError:
        raise ValueError("PEM private key without its -----END PRIVATE KEY----- line") from None
    if end != len(lines) - 1:
        raise ValueError("unexpected text after the PEM private key")
    try:
        der = base64.b64decode("".join(lines[1:end]), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("PEM private key body is not valid base64") from None
    if len(der) == _PKCS8_LENGTH and der.startswith(_PKCS8_ED25519_PREFIX):
        return Ed25519PrivateKey(der[len(_PKCS8_ED25519_PREFIX) :])
    for oid, name in _OTHER_ALGORITHMS.items():
        if oid in der[:16]:
            raise ValueError(f"{name}, not an Ed25519 private key")
    if _ED25519_OID in der[:16]:
        raise ValueError(
            "an Ed25519 private key in a PKCS#8 form other than the plain one fleetproof writes "
            "(with attributes or the public key)"
        )
    raise ValueError("not an Ed25519 private key (unknown or malformed PKCS#8 contents)")
