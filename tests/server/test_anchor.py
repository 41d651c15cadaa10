"""Audit anchors: signed checkpoints outside the database catch a cut tail and a rewritten chain."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import SERVER_TOKEN, free_port, start_server
from sqlalchemy import delete, select

import fleetproof.cli
from fleetproof.probe.keys import generate_key, save_private_key
from fleetproof.server import audit
from fleetproof.server.anchor import Anchorer, anchor_paths
from fleetproof.server.store.models import AuditEntry


@pytest.fixture
def store(tmp_path: Path, clock: Any) -> Any:
    from conftest import make_ctx

    ctx = make_ctx(f"sqlite:///{tmp_path / 'store.db'}", clock)
    yield ctx
    ctx.db.dispose()


def _append(ctx: Any, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        with ctx.db.write() as s:
            audit.append(
                ctx.db, s, actor="admin:t", action="zone.created", subject=f"z{i}", details={"i": i}, now=1e9
            )


def _verify(tmp_path: Path, capsys: pytest.CaptureFixture[str], anchor: Path, pub: Path) -> tuple[int, str]:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    code = fleetproof.cli.main(
        ["audit", "verify", "--db", db, "--anchor", str(anchor), "--anchor-key", str(pub)]
    )
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def anchored(store: Any, tmp_path: Path) -> tuple[Anchorer, Path, Path, list[Any]]:
    key = generate_key()
    pub = save_private_key(key, tmp_path / "anchor.key")
    posted: list[Any] = []
    anchorer = Anchorer(
        store.db,
        tmp_path / "anchors.jsonl",
        key,
        webhooks=["http://hooks.example/audit"],
        poster=lambda url, body: posted.append((url, body)),
    )
    return anchorer, tmp_path / "anchors.jsonl", pub, posted


def test_an_intact_chain_matches_its_checkpoints_and_copies_go_out(
    store: Any, anchored: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchorer, path, pub, posted = anchored
    _append(store, 4)
    assert anchorer.checkpoint() is not None
    assert anchorer.checkpoint() is None  # the head did not move: nothing new to anchor
    _append(store, 3, start=4)
    cp = anchorer.checkpoint()
    assert cp is not None and cp.entries == 7
    assert [json.loads(line)["entries"] for line in path.read_text().splitlines()] == [4, 7]
    assert [b["entries"] for _, b in posted] == [4, 7] and posted[0][1]["kind"] == "audit_checkpoint"
    code, out = _verify(tmp_path, capsys, path, pub)
    assert code == 0 and "intact: 7 entries" in out


def test_entries_removed_from_the_tail_are_caught(
    store: Any, anchored: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchorer, path, pub, _ = anchored
    _append(store, 10)
    anchorer.checkpoint()
    with store.db.write() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq > 7))
    assert audit.verify_chain(store.db).ok  # the chain alone cannot tell
    code, out = _verify(tmp_path, capsys, path, pub)
    assert code == 1 and "removed from the tail" in out and "holds 7 entries" in out and "10" in out


def test_a_chain_rewritten_and_rehashed_from_one_row_on_is_caught(
    store: Any, anchored: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchorer, path, pub, _ = anchored
    _append(store, 4)
    anchorer.checkpoint()
    _append(store, 6, start=4)
    anchorer.checkpoint()
    with store.db.write() as s:  # rewrite entry 6 and every hash after it: a valid chain again
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.seq >= 6).order_by(AuditEntry.seq)))
        prev = s.scalar(select(AuditEntry.hash).where(AuditEntry.seq == 5))
        for row in rows:
            details = {"i": -1} if row.seq == 6 else row.details
            row.details, row.prev_hash = details, prev
            row.hash = audit.entry_hash(prev, row.seq, row.time, row.actor, row.action, row.subject, details)
            prev = row.hash
    assert audit.verify_chain(store.db).ok
    code, out = _verify(tmp_path, capsys, path, pub)
    assert code == 1 and "rewritten" in out and "entries 5..10" in out


def test_a_forged_or_foreign_checkpoint_is_refused(
    store: Any, anchored: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchorer, path, pub, _ = anchored
    _append(store, 5)
    anchorer.checkpoint()
    line = json.loads(path.read_text())
    path.write_text(json.dumps({**line, "entries": 3}) + "\n")
    code, out = _verify(tmp_path, capsys, path, pub)
    assert code == 1 and "does not verify" in out
    other = save_private_key(generate_key(), tmp_path / "other.key")
    code, out = _verify(tmp_path, capsys, path, other)
    assert code == 1 and "another key" in out


def test_checkpoints_reach_syslog(store: Any, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(10)
        port = receiver.getsockname()[1]
        anchorer = Anchorer(store.db, tmp_path / "a.jsonl", generate_key(), syslog=f"127.0.0.1:{port}")
        _append(store, 2)
        anchorer.stop()  # never started: stopping still writes the shutdown checkpoint
        datagram = receiver.recv(65536).decode()
    assert '"entries": 2' in datagram and "fleetproof-audit-checkpoint-v1" in datagram


@pytest.mark.integration
def test_the_server_anchors_on_shutdown_beside_its_sqlite_file(tmp_path: Path) -> None:
    from fleetproof.server.config import ServerSettings

    port, db = free_port(), f"sqlite:///{tmp_path / 'store.db'}"
    env = {"FLEETPROOF_DATA_DIR": str(tmp_path / "data")}
    proc = start_server(db, port, tmp_path / "server.log", env=env)
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/zones",
            json={"id": "z", "allowed_countries": ["DE"]},
            headers={"Authorization": f"Bearer {SERVER_TOKEN}"},
        )
        assert r.status_code == 201, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    path, key = anchor_paths(ServerSettings(db=db, data_dir=str(tmp_path / "data")))
    assert path == tmp_path / "store.db.audit-anchors.jsonl"
    assert key == tmp_path / "store.db.audit-anchor.key" and key.stat().st_mode & 0o077 == 0
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["entries"] == 1
    assert (
        fleetproof.cli.main(
            ["audit", "verify", "--db", db, "--anchor", str(path), "--anchor-key", f"{key}.pub"]
        )
        == 0
    )
