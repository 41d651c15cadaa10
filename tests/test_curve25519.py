"""fleetproof.protocol.curve25519 on its own: keys, signatures, key agreement, the PEM form, its refusals.

The checks against an independent implementation are in ``test_curve25519_interop.py``.
"""

from __future__ import annotations

import ast
import base64
import os
from pathlib import Path

import pytest

from fleetproof.errors import InputError
from fleetproof.probe.keys import load_private_key, save_private_key
from fleetproof.protocol.curve25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    InvalidSignature,
    X25519PrivateKey,
    X25519PublicKey,
    private_key_from_pem,
    private_key_to_pem,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "fleetproof"
FACADE = SRC / "protocol" / "curve25519.py"

# RFC 8032, section 7.1, TEST 2: a one-byte message.
RFC8032_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
RFC8032_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
RFC8032_MESSAGE = bytes.fromhex("72")
RFC8032_SIGNATURE = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)
# RFC 7748, section 6.1: Alice's and Bob's keys and their shared secret.
RFC7748_ALICE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RFC7748_BOB = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
RFC7748_ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
RFC7748_SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")


def test_signature_matches_rfc8032_vector() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    assert key.public_key().public_bytes_raw() == RFC8032_PUBLIC
    assert key.sign(RFC8032_MESSAGE) == RFC8032_SIGNATURE
    Ed25519PublicKey.from_public_bytes(RFC8032_PUBLIC).verify(RFC8032_SIGNATURE, RFC8032_MESSAGE)


def test_verify_refuses_altered_message_signature_and_key() -> None:
    key = Ed25519PrivateKey.generate()
    sig = key.sign(b"message")
    key.public_key().verify(sig, b"message")
    with pytest.raises(InvalidSignature):
        key.public_key().verify(sig, b"messagE")
    with pytest.raises(InvalidSignature):
        key.public_key().verify(bytes([sig[0] ^ 1]) + sig[1:], b"message")
    with pytest.raises(InvalidSignature):
        Ed25519PrivateKey.generate().public_key().verify(sig, b"message")
    with pytest.raises(InvalidSignature, match="64 bytes"):
        key.public_key().verify(sig[:63], b"message")


def test_keys_refuse_wrong_lengths_and_types() -> None:
    for cls in (Ed25519PrivateKey, Ed25519PublicKey, X25519PrivateKey, X25519PublicKey):
        with pytest.raises(ValueError, match="32 bytes, got 31"):
            cls(bytes(31))
        with pytest.raises(TypeError):
            cls("a" * 32)  # type: ignore[arg-type]


def test_public_keys_compare_by_value_and_private_reprs_hide_the_seed() -> None:
    key = Ed25519PrivateKey.generate()
    again = Ed25519PublicKey.from_public_bytes(key.public_key().public_bytes_raw())
    assert again == key.public_key() and hash(again) == hash(key.public_key())
    assert again != Ed25519PrivateKey.generate().public_key()
    seed_b64 = base64.b64encode(key.private_bytes_raw()).decode()
    assert seed_b64 not in repr(key) and key.private_bytes_raw().hex() not in repr(key)


def test_x25519_matches_rfc7748_vector_and_refuses_low_order_peers() -> None:
    alice = X25519PrivateKey.from_private_bytes(RFC7748_ALICE)
    bob = X25519PrivateKey.from_private_bytes(RFC7748_BOB)
    assert alice.public_key().public_bytes_raw() == RFC7748_ALICE_PUBLIC
    assert alice.exchange(bob.public_key()) == RFC7748_SHARED == bob.exchange(alice.public_key())
    with pytest.raises(ValueError, match="small order"):
        alice.exchange(X25519PublicKey(bytes(32)))


def test_pem_round_trip_is_the_rfc8410_form() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    pem = private_key_to_pem(key)
    lines = pem.decode().splitlines()
    assert lines[0] == "-----BEGIN PRIVATE KEY-----" and lines[-1] == "-----END PRIVATE KEY-----"
    assert base64.b64decode(lines[1]) == bytes.fromhex("302e020100300506032b657004220420") + RFC8032_SEED
    assert private_key_from_pem(pem).private_bytes_raw() == RFC8032_SEED
    # Windows line endings and surrounding blank lines are the same key.
    crlf = b"\r\n" + pem.replace(b"\n", b"\r\n") + b"\r\n"
    assert private_key_from_pem(crlf).private_bytes_raw() == RFC8032_SEED


def _pem(label: str, der: bytes) -> bytes:
    return f"-----BEGIN {label}-----\n{base64.b64encode(der).decode()}\n-----END {label}-----\n".encode()


SEED = bytes(range(32))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello", "no -----BEGIN line"),
        (b"", "no -----BEGIN line"),
        (b"\xff\xfe", "not ASCII"),
        (_pem("ENCRYPTED PRIVATE KEY", b"x" * 40), "encrypted"),
        (_pem("OPENSSH PRIVATE KEY", b"x" * 40), "'OPENSSH PRIVATE KEY'"),
        (_pem("PUBLIC KEY", b"x" * 40), "'PUBLIC KEY'"),
        (_pem("PRIVATE KEY", b"x" * 40)[:-26], "without its -----END"),
        (_pem("PRIVATE KEY", b"x" * 40) + b"trailing\n", "after the PEM"),
        (b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n", "not valid base64"),
        # An X25519 key (1.3.101.110) in the same PKCS#8 shape.
        (_pem("PRIVATE KEY", bytes.fromhex("302e020100300506032b656e04220420") + SEED), "X25519"),
        (_pem("PRIVATE KEY", bytes.fromhex("3047020100300506032b6571043b0439") + bytes(57)), "Ed448"),
        # Version 1 (RFC 5958) with the public key attached: valid elsewhere, not the form written here.
        (
            _pem(
                "PRIVATE KEY",
                bytes.fromhex("3051020101300506032b657004220420")
                + SEED
                + bytes.fromhex("812100")
                + bytes(32),
            ),
            "other than the plain one",
        ),
        (_pem("PRIVATE KEY", bytes.fromhex("302e020100300506032b657004220420") + SEED[:31]), "other than"),
        (_pem("PRIVATE KEY", b"\x30\x82" + bytes(100)), "unknown or malformed"),
    ],
)
def test_pem_refusals_say_what_the_file_is(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        private_key_from_pem(data)


def test_key_file_refusal_names_the_file_and_never_quotes_it(tmp_path: Path) -> None:
    path = tmp_path / "x25519.key"
    path.write_bytes(_pem("PRIVATE KEY", bytes.fromhex("302e020100300506032b656e04220420") + SEED))
    os.chmod(path, 0o600)
    with pytest.raises(InputError) as exc:
        load_private_key(path)
    assert str(path) in str(exc.value) and "X25519" in str(exc.value)
    assert base64.b64encode(SEED).decode()[:20] not in str(exc.value)


def test_saved_key_file_is_exactly_the_pem(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    save_private_key(key, tmp_path / "k")
    assert (tmp_path / "k").read_bytes() == private_key_to_pem(key)
    assert os.stat(tmp_path / "k").st_mode & 0o777 == 0o600


def _imported_top_levels(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_facade_touches_a_crypto_library() -> None:
    """``cryptography`` is a development dependency only; PyNaCl is used in one module."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        found = _imported_top_levels(path) & {"cryptography", "nacl"}
        if found and not (path == FACADE and found == {"nacl"}):
            offenders.append(f"{path.relative_to(SRC)}: {sorted(found)}")
    assert not offenders, offenders
    assert _imported_top_levels(FACADE) & {"nacl"}, "the facade no longer imports nacl: update this test"
