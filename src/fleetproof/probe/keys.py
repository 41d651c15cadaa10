"""Ed25519 identities for devices and landmarks.

Every device and every landmark holds one Ed25519 key (the key objects and the PEM
form are :mod:`fleetproof.protocol.curve25519`'s). The private key is a PEM
(PKCS#8) file readable only by its owner (mode 0600); the public key travels as
the base64 of its raw 32 bytes, one line, in ``FILE.pub`` and in the landmark
directory (``DIR.csv``). Nothing here ever prints or logs key material.

Stable interface (used by the agent and the server)::

    generate_key() -> Ed25519PrivateKey
    save_private_key(key, path)          # atomic, 0600, also writes path + ".pub"
    load_private_key(path) -> Ed25519PrivateKey      # ConfigError / InputError
    public_key_b64(key) -> str           # raw 32 bytes, base64
    public_key_from_b64(text) -> Ed25519PublicKey    # ValueError when malformed
    load_public_key(path) -> Ed25519PublicKey
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleetproof.errors import ConfigError, InputError
from fleetproof.files import atomic_open
from fleetproof.protocol.curve25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    private_key_from_pem,
    private_key_to_pem,
)

__all__ = [
    "generate_key",
    "load_private_key",
    "load_public_key",
    "public_key_b64",
    "public_key_bytes",
    "public_key_from_b64",
    "save_private_key",
    "write_atomic",
]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

# signed_message, sign_b64 and signature_from_b64 (below) serve the signed documents of
# this package (measurement records, position statements); they are not in the pinned
# interface above.


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes_raw()


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    return base64.b64encode(public_key_bytes(key)).decode("ascii")


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """Parse the one-line base64 form; raise ValueError saying what is wrong."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"public key is not valid base64: {exc}") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ValueError(f"public key must be {PUBLIC_KEY_BYTES} bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def write_atomic(path: str | Path, data: bytes, mode: int = 0o644) -> None:
    """Write through a temporary file in the same folder and rename, so no reader sees half a file."""
    with atomic_open(path, binary=True, mode=mode) as fh:
        fh.write(data)


def save_private_key(key: Ed25519PrivateKey, path: str | Path) -> Path:
    """Write the private key (0600) and ``path.pub``; return the ``.pub`` path."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigError(f"folder for the key does not exist: {target.parent}")
    write_atomic(target, private_key_to_pem(key), 0o600)
    pub_path = target.with_name(target.name + ".pub")
    write_atomic(pub_path, (public_key_b64(key) + "\n").encode("ascii"), 0o644)
    return pub_path


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Load a key written by :func:`save_private_key`; refuse files others can read."""
    target = Path(path)
    try:
        st = target.stat()
        data = target.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {target}: {exc.strerror}") from None
    if st.st_mode & 0o077:
        raise ConfigError(
            f"key file {target} is readable by others (mode {st.st_mode & 0o777:o}); chmod 600 it"
        )
    try:
        return private_key_from_pem(data)
    except ValueError as exc:
        raise InputError(str(target), None, str(exc)) from None


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    target = Path(path)
    try:
        text = target.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read public key file {target}: {exc}") from None
    try:
        return public_key_from_b64(text)
    except ValueError as exc:
        raise InputError(str(target), 1, str(exc)) from None


def signed_message(domain: bytes, body: Mapping[str, Any]) -> bytes:
    """The exact bytes a signature over ``body`` covers: ``domain`` then canonical JSON.

    Keys sorted, no spaces, ASCII only, so every party re-derives the same bytes;
    the domain line keeps a signature over one kind of document from passing for
    another. A NaN or infinity has no canonical form: ``ValueError``.
    """
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return domain + text.encode("ascii")


def sign_b64(key: Ed25519PrivateKey, message: bytes) -> str:
    """``key``'s Ed25519 signature over ``message``, base64."""
    return base64.b64encode(key.sign(message)).decode("ascii")


def signature_from_b64(text: str) -> bytes:
    """The raw 64-byte signature in ``text``; ``ValueError`` saying what is wrong.

    Only the canonical spelling is accepted: the same bytes spelt another way
    (padding bits set) would make a second, distinct signed document.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("signature is not valid base64") from None
    if len(raw) != SIGNATURE_BYTES:
        raise ValueError("signature is missing or not 64 bytes")
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("signature is not canonical base64")
    return raw
