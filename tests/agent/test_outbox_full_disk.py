"""The outbox on a full disk: a failed write leaves it consistent, and nothing stored is lost later.

Two ways to fill the disk: a real, small tmpfs (when this process may mount one) and
SQLite's ``max_page_count``, which makes the file "full" at a set size with the same
error (``SQLITE_FULL``) and the same automatic rollback.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetproof.agent.outbox import Outbox

PAYLOAD = {"time": 1.0, "blob": "x" * 4000}


def _fill(box: Outbox) -> sqlite3.OperationalError:
    """Put batches until the disk is full; return the error the outbox raised."""
    for _ in range(10_000):
        try:
            box.put_many([("telemetry", PAYLOAD, None) for _ in range(20)])
        except sqlite3.OperationalError as exc:
            return exc
    raise AssertionError("the disk never filled up")


def _on_disk(path: Path) -> tuple[int, set[str]]:
    with sqlite3.connect(path) as db:
        ids = {row[0] for row in db.execute("SELECT id FROM items")}
    return len(ids), ids


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30, check=False)


def _check_full_then_free(box: Outbox, path: Path, free: Callable[[], None]) -> None:
    error = _fill(box)
    assert "full" in str(error), f"the outbox hid the real error: {error}"
    count, before = _on_disk(path)
    assert count > 0 and len(box) == count, "the in-memory count drifted from the file"
    assert box.size_bytes == count * len(box._db.execute("SELECT payload FROM items LIMIT 1").fetchone()[0])
    # A second failure in a row must not break the outbox either (no transaction left open).
    with pytest.raises(sqlite3.OperationalError, match="full"):
        box.put_many([("telemetry", PAYLOAD, None) for _ in range(200)])
    assert len(box) == count
    free()
    added = box.put_many([("health", {"time": 2.0}, uuid.uuid4().hex) for _ in range(5)])
    after_count, after = _on_disk(path)
    assert before <= after and set(added) <= after, "stored items were dropped once space returned"
    assert after_count == count + 5 == len(box)
    assert box.dropped_total == 0


def test_a_full_disk_through_max_page_count(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path, max_items=1_000_000)
    pages = box._db.execute("PRAGMA page_count").fetchone()[0]
    box._db.execute(f"PRAGMA max_page_count = {pages + 200}")
    try:
        _check_full_then_free(box, path, lambda: box._db.execute("PRAGMA max_page_count = 1000000"))
    finally:
        box.close()


def test_a_real_full_disk(tmpfs: Path) -> None:
    path = tmpfs / "outbox.sqlite3"
    filler = tmpfs / "filler"
    filler.write_bytes(b"\0" * (1024 * 1024))
    box = Outbox(path, max_items=1_000_000)
    try:
        _check_full_then_free(box, path, lambda: os.unlink(filler))
    finally:
        box.close()
