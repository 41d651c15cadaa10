"""fleetproof's Ed25519/X25519 (libsodium) against an independent implementation (``cryptography``).

Keys in the field were written by ``cryptography`` before fleetproof moved to libsodium, and
the other side of a signature (a server, a verifier, an auditor's own tool) may use OpenSSL:
key files must load both ways, signatures must be the same bytes (Ed25519 is deterministic)
and verify both ways, key agreement must give the same secret, and the signed documents
built on them (request signatures, landmark records) must verify across the two.
``cryptography`` is a development dependency only (pyproject.toml, ``dev``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519 as c_ed25519
from cryptography.hazmat.primitives.asymmetric import x25519 as c_x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetproof.errors import InputError
from fleetproof.probe.keys import load_private_key, public_key_b64, save_private_key
from fleetproof.probe.record_check import RecordError, signed_record_json, verify_record
from fleetproof.probe.records import sign_record
from fleetproof.protocol import reqsign
from fleetproof.protocol.curve25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    InvalidSignature,
    X25519PrivateKey,
    X25519PublicKey,
)

seeds = st.binary(min_size=32, max_size=32)
messages = st.binary(max_size=2048)


class OpenSslSigner:
    """A signing key backed by ``cryptography``, accepted wherever fleetproof takes a private key."""

    def __init__(self, key: c_ed25519.Ed25519PrivateKey) -> None:
        self.key = key

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.key.public_key().public_bytes_raw())


class OpenSslVerifier:
    """A public key backed by ``cryptography``, accepted wherever fleetproof verifies."""

    def __init__(self, raw: bytes) -> None:
        self.key = c_ed25519.Ed25519PublicKey.from_public_bytes(raw)

    def verify(self, signature: bytes, message: bytes) -> None:
        try:
            self.key.verify(signature, message)
        except CryptographyInvalidSignature:
            raise InvalidSignature("cryptography: signature does not verify") from None


@settings(max_examples=60, deadline=None)
@given(seed=seeds, message=messages)
def test_same_seed_same_public_key_and_same_signature(seed: bytes, message: bytes) -> None:
    ours = Ed25519PrivateKey.from_private_bytes(seed)
    theirs = c_ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    assert ours.public_key().public_bytes_raw() == theirs.public_key().public_bytes_raw()
    signature = ours.sign(message)
    assert signature == theirs.sign(message)
    theirs.public_key().verify(signature, message)
    ours.public_key().verify(theirs.sign(message), message)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, message=messages.filter(bool))
def test_both_refuse_a_signature_over_another_message(seed: bytes, message: bytes) -> None:
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(message)
    altered = bytes([message[0] ^ 0x01]) + message[1:]
    with pytest.raises(InvalidSignature):
        Ed25519PrivateKey.from_private_bytes(seed).public_key().verify(signature, altered)
    with pytest.raises(CryptographyInvalidSignature):
        c_ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().verify(signature, altered)


@settings(max_examples=40, deadline=None)
@given(a=seeds, b=seeds)
def test_x25519_shared_secrets_agree(a: bytes, b: bytes) -> None:
    ours = X25519PrivateKey.from_private_bytes(a)
    theirs = c_x25519.X25519PrivateKey.from_private_bytes(b)
    their_public = theirs.public_key().public_bytes_raw()
    assert X25519PrivateKey.from_private_bytes(b).public_key().public_bytes_raw() == their_public
    secret = ours.exchange(X25519PublicKey.from_public_bytes(their_public))
    assert secret == theirs.exchange(
        c_x25519.X25519PublicKey.from_public_bytes(ours.public_key().public_bytes_raw())
    )


def test_key_file_written_here_loads_in_cryptography_byte_for_byte(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    save_private_key(key, tmp_path / "dev.key")
    data = (tmp_path / "dev.key").read_bytes()
    loaded = serialization.load_pem_private_key(data, password=None)
    assert isinstance(loaded, c_ed25519.Ed25519PrivateKey)
    assert loaded.private_bytes_raw() == key.private_bytes_raw()
    again = loaded.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert again == data


def test_key_file_written_by_cryptography_loads_here(tmp_path: Path) -> None:
    theirs = c_ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "old.key"
    path.write_bytes(
        theirs.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    os.chmod(path, 0o600)
    ours = load_private_key(path)
    assert ours.private_bytes_raw() == theirs.private_bytes_raw()
    assert ours.sign(b"m") == theirs.sign(b"m")


def test_openssl_command_line_key_loads_here(tmp_path: Path) -> None:
    """The form ``openssl genpkey -algorithm ed25519`` writes, when the tool is installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command")
    path = tmp_path / "cli.key"
    subprocess.run([openssl, "genpkey", "-algorithm", "ed25519", "-out", str(path)], check=True)
    os.chmod(path, 0o600)
    ours = load_private_key(path)
    theirs = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(theirs, c_ed25519.Ed25519PrivateKey)
    assert ours.private_bytes_raw() == theirs.private_bytes_raw()


@pytest.mark.parametrize(
    ("theirs", "encryption", "message"),
    [
        ("ed25519", serialization.BestAvailableEncryption(b"secret"), "encrypted"),
        ("x25519", serialization.NoEncryption(), "X25519"),
    ],
)
def test_cryptography_keys_of_another_kind_are_refused_clearly(
    tmp_path: Path, theirs: str, encryption: serialization.KeySerializationEncryption, message: str
) -> None:
    key = (
        c_ed25519.Ed25519PrivateKey.generate()
        if theirs == "ed25519"
        else c_x25519.X25519PrivateKey.generate()
    )
    path = tmp_path / "other.key"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    os.chmod(path, 0o600)
    with pytest.raises(InputError, match=message):
        load_private_key(path)


def test_openssh_key_is_refused_clearly(tmp_path: Path) -> None:
    key = c_ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "id_ed25519"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    os.chmod(path, 0o600)
    with pytest.raises(InputError, match="OPENSSH PRIVATE KEY"):
        load_private_key(path)


@pytest.mark.parametrize("query", ["", "since=3&limit=10"])
def test_request_signatures_verify_across_implementations(query: str) -> None:
    seed = os.urandom(32)
    ours = Ed25519PrivateKey.from_private_bytes(seed)
    theirs = OpenSslSigner(c_ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    body = b'{"items": []}'
    for signer, verifier in (
        (ours, OpenSslVerifier(ours.public_key().public_bytes_raw())),
        (theirs, ours.public_key()),
    ):
        headers = reqsign.sign_request(signer, "gpu-01", "POST", "/api/v1/ingest", body, query=query, now=1e9)  # type: ignore[arg-type]
        signed = reqsign.parse_headers(headers)
        reqsign.check_request(verifier, signed, "POST", "/api/v1/ingest", query, body, now=1e9, window_s=60)  # type: ignore[arg-type]
        with pytest.raises(reqsign.SignatureProblem, match="does not verify"):
            reqsign.check_request(
                verifier,  # type: ignore[arg-type]
                signed,
                "POST",
                "/api/v1/ingest",
                query,
                body + b" ",
                now=1e9,
                window_s=60,
            )


def test_landmark_records_verify_across_implementations() -> None:
    seed = os.urandom(32)
    ours = Ed25519PrivateKey.from_private_bytes(seed)
    theirs = OpenSslSigner(c_ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    device = public_key_b64(Ed25519PrivateKey.generate())
    fields = {
        "device_id": "gpu-01",
        "device_public_key": device,
        "landmark_id": "fra",
        "session_id": "0011223344556677",
        "samples_ms": [12.5, 12.25, 13.0],
        "lost": 0,
        "time": 1_800_000_000.0,
    }
    record = sign_record(key=ours, **fields)  # type: ignore[arg-type]
    same = sign_record(key=theirs, **fields)  # type: ignore[arg-type]
    assert record == same  # deterministic signatures: the very same record
    assert signed_record_json(key=ours, **fields) == signed_record_json(key=theirs, **fields)  # type: ignore[arg-type]
    verify_record(same, ours.public_key(), device_public_key=device)
    verify_record(record, OpenSslVerifier(ours.public_key().public_bytes_raw()))  # type: ignore[arg-type]
    tampered = record.model_copy(update={"rtt_ms": 12.0, "samples_ms": [12.0, 12.25, 13.0]})
    with pytest.raises(RecordError, match="does not verify"):
        verify_record(tampered, OpenSslVerifier(ours.public_key().public_bytes_raw()))  # type: ignore[arg-type]
