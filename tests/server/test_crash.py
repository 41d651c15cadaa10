"""kill -9 of the server during sustained ingest loses nothing acknowledged; re-delivery fills the rest.

The kill is placed by progress, not by the clock: after a number of acknowledged batches,
the next batch is written to the server in full and the server is killed before its answer
can be read, so the kill always lands while a request is being ingested, however fast the
machine is.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from server_helpers import SERVER_TOKEN as TOKEN
from server_helpers import free_port as _port
from server_helpers import start_server, telemetry_item

from fleetproof.agent.client import HttpTransport, StdlibClient, enroll
from fleetproof.agent.enroll_cli import host_inventory
from fleetproof.agent.transport import OutboxItem, TransportError

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class KillMidRequest:
    """An HTTP client that kills the server while request ``after + 1`` is in flight.

    Requests up to ``after`` go through normally. The next one is written to the socket in
    full (headers and body), then the server gets SIGKILL before its answer is read: the
    agent sees a broken connection, as it would when the server dies mid-ingest.
    """

    def __init__(self, proc: subprocess.Popen[bytes], after: int) -> None:
        self.proc = proc
        self.after = after
        self.sent = 0
        self.killed = False
        self.inner = StdlibClient(10.0)

    def get(self, url: str, *, headers: Mapping[str, str]) -> object:
        return self.inner.get(url, headers=headers)

    def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> object:
        self.sent += 1
        if self.sent <= self.after or self.killed:
            return self.inner.post(url, content=content, headers=headers)
        parts = urlsplit(url)
        head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(content)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + content)
            os.kill(self.proc.pid, signal.SIGKILL)
            self.killed = True
            self.proc.wait(timeout=10)
            answer = sock.recv(65536)  # the kernel closes the dead server's socket: b"" or a reset
        raise OSError(f"server died mid-request (answer so far: {answer[:60]!r})")


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

        killer = KillMidRequest(proc, after=40)
        transport = HttpTransport(
            base, identity.device_id, load_private_key(tmp_path / "agent" / "device.key"), client=killer
        )
        pending = [  # dated after the store's first start: older items would be refused
            OutboxItem(
                **telemetry_item(time.time() - 250 + i * 0.05, hostname="crash-host", gpus=8, metrics=20)
            )
            for i in range(4000)
        ]
        acked: list[str] = []
        while pending:
            batch = pending[:25]
            try:
                transport.send(batch)
            except TransportError:
                break  # the server is gone; the outbox keeps these
            acked.extend(i.id for i in batch)
            del pending[:25]
        assert killer.killed and len(acked) == 40 * 25 and len(pending) == 4000 - 40 * 25
        proc = start_server(db, port, log)
        transport.client = StdlibClient(10.0)
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
        assert transport.rejected == []
        store.dispose()
    finally:
        proc.kill()
        proc.wait(timeout=10)
