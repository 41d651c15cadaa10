from __future__ import annotations

from pathlib import Path

import pytest

from fleetproof.errors import ConfigError
from fleetproof.files import atomic_open


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half of the new")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_binary_with_mode_and_fsync(tmp_path: Path) -> None:
    target = tmp_path / "key"
    with atomic_open(target, binary=True, mode=0o600, fsync=True) as fh:
        fh.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert target.stat().st_mode & 0o777 == 0o600


def test_an_unwritable_folder_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot write"), atomic_open(blocker / "out.txt"):
        pass
