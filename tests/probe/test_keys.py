from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetproof.errors import ConfigError, InputError
from fleetproof.probe.keys import (
    generate_key,
    load_private_key,
    load_public_key,
    public_key_b64,
    public_key_from_b64,
    save_private_key,
)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    key = generate_key()
    pub_path = save_private_key(key, tmp_path / "dev.key")
    assert pub_path == tmp_path / "dev.key.pub"
    assert os.stat(tmp_path / "dev.key").st_mode & 0o777 == 0o600
    assert public_key_b64(load_private_key(tmp_path / "dev.key")) == public_key_b64(key)
    assert public_key_b64(load_public_key(pub_path)) == public_key_b64(key)
    assert len(pub_path.read_text().strip()) == 44  # base64 of 32 raw bytes


def test_refuses_key_readable_by_others(tmp_path: Path) -> None:
    save_private_key(generate_key(), tmp_path / "k")
    os.chmod(tmp_path / "k", 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_private_key(tmp_path / "k")


def test_rejects_non_key_file(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("hello")
    os.chmod(path, 0o600)
    with pytest.raises(InputError, match="PEM"):
        load_private_key(path)
    with pytest.raises(ConfigError):
        load_private_key(tmp_path / "missing")


@pytest.mark.parametrize("text", ["not base64!", "AAAA", ""])
def test_bad_public_key_text(text: str) -> None:
    with pytest.raises(ValueError):
        public_key_from_b64(text)


def test_error_messages_never_contain_key_material(tmp_path: Path) -> None:
    key = generate_key()
    save_private_key(key, tmp_path / "k")
    secret = (tmp_path / "k").read_text().splitlines()[1]
    os.chmod(tmp_path / "k", 0o640)
    with pytest.raises(ConfigError) as exc:
        load_private_key(tmp_path / "k")
    assert secret not in str(exc.value)
