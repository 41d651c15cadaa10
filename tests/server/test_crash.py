"""kill -9 of the server during sustained ingest loses nothing acknowledged; re-delivery fills the rest."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from server_helpers import telemetry_item

from fleetproof.agent.client import HttpTransport, enroll
from fleetproof.agent.enroll_cli import host_inventory
from fleetproof.agent.transport import OutboxItem, TransportError

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "crash-test-admin-token"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleetproof.server",
            "--db",
            db,
            "--listen",
            f"127.0.0.1:{port}",
            "--admin-token",
            TOKEN,
            "--no-background",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_loses_nothing_acknowledged(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        db = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        from conftest import fresh_postgres_db

        db = fresh_postgres_db(request.getfixturevalue("postgres_server"))
    port, log = _port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db, port, log)
    admin = {"Authorization": f"Bearer {TOKEN}"}
    try:
        httpx.post(f"{base}/api/v1/zones", json={"id": "z", "allowed_countries": ["DE"]}, headers=admin)
        token = httpx.post(f"{base}/api/v1/enrollment-tokens", json={"zone": "z"}, headers=admin).json()[
            "token"
        ]
        identity = enroll(base, token, tmp_path / "agent", host_inventory("crash-host"))
        from fleetproof.probe.keys import load_private_key

        transport = HttpTransport(
            base, identity.device_id, load_private_key(tmp_path / "agent" / "device.key"), timeout_s=5
        )
        pending = [
            OutboxItem(**telemetry_item(time.time() - 4000 + i, hostname="crash-host", gpus=8, metrics=20))
            for i in range(4000)
        ]
        acked: list[str] = []
        killer = threading.Timer(1.5, lambda: os.kill(proc.pid, signal.SIGKILL))
        killer.start()
        while pending:
            batch = pending[:25]
            try:
                transport.send(batch)
            except TransportError:
                break  # the server is gone; the outbox keeps these
            acked.extend(i.id for i in batch)
            del pending[:25]
        killer.join()
        proc.wait(timeout=10)
        assert acked and pending, "the kill must land mid-ingest"
        proc = start_server(db, port, log)
        from sqlalchemy import select

        from fleetproof.server.store.db import Database
        from fleetproof.server.store.models import TelemetryRecord

        store = Database(db)
        with store.read() as s:
            stored = set(s.scalars(select(TelemetryRecord.item_id)))
        assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged items lost"
        # The agent re-delivers what was not acknowledged (the in-flight batch may already be stored).
        while pending:
            transport.send(pending[:200])
            del pending[:200]
        with store.read() as s:
            ids = list(s.scalars(select(TelemetryRecord.item_id)))
        assert len(ids) == len(set(ids)) == 4000
        store.dispose()
    finally:
        proc.kill()
        proc.wait(timeout=10)
