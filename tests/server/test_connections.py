"""Hostile connections: idle, half-sent and too many of them do not lock out anyone else.

The server runs as a child process under an open-file limit of 1,024; one client address
(127.0.0.2, still loopback) opens more connections than that limit and leaves them idle,
half-sent or trickling, while another (127.0.0.1) must still be served.
"""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import SERVER_TOKEN, free_port, start_server, telemetry_item

from fleetproof.agent.client import HttpTransport, enroll
from fleetproof.agent.enroll_cli import host_inventory
from fleetproof.agent.transport import OutboxItem
from fleetproof.probe.keys import load_private_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ADMIN = {"Authorization": f"Bearer {SERVER_TOKEN}"}
HOSTILE = "127.0.0.2"


@pytest.fixture
def enough_files() -> Iterator[None]:
    """This process holds every hostile connection's socket: it needs more than 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096
    if soft >= wanted:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the open-file limit of this process ({hard}) is too low for the test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _connect(port: int, source: str = HOSTILE) -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(15)
    s.connect(("127.0.0.1", port))
    return s


def _closed_by_server(s: socket.socket) -> bytes:
    """What the server sent before it closed ``s`` (an OSError or timeout fails the test)."""
    got = b""
    try:
        while chunk := s.recv(4096):
            got += chunk
    except ConnectionResetError:
        pass
    return got


def _enrolled(base: str, state: Path) -> HttpTransport:
    httpx.post(f"{base}/api/v1/zones", json={"id": "z", "allowed_countries": ["DE"]}, headers=ADMIN)
    token = httpx.post(f"{base}/api/v1/enrollment-tokens", json={"zone": "z"}, headers=ADMIN).json()["token"]
    identity = enroll(base, token, state, host_inventory("conn-host"))
    return HttpTransport(base, identity.device_id, load_private_key(state / "device.key"), timeout_s=5)


def _hostile(port: int, n: int) -> list[socket.socket]:
    """``n`` connections: silent, one header line and stop, or a head and a trickle of body."""
    socks = []
    for i in range(n):
        s = _connect(port)
        if i % 3 == 1:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
        elif i % 3 == 2:
            s.sendall(
                b"POST /api/v1/zones HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                b"Authorization: Bearer " + SERVER_TOKEN.encode() + b"\r\n\r\n{"
            )
        socks.append(s)
    return socks


def test_more_connections_than_file_descriptors_from_one_address(tmp_path: Path, enough_files: None) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(f"sqlite:///{tmp_path / 'store.db'}", port, tmp_path / "server.log", nofile=1024)
    socks: list[socket.socket] = []
    try:
        transport = _enrolled(base, tmp_path / "agent")
        socks = _hostile(port, 1100)
        started = time.perf_counter()
        r = httpx.get(f"{base}/healthz", timeout=5)
        healthz_s = time.perf_counter() - started
        assert r.status_code == 200
        started = time.perf_counter()
        transport.send([OutboxItem(**telemetry_item(time.time(), hostname="conn-host"))])
        ingest_s = time.perf_counter() - started
        assert transport.rejected == []
        assert healthz_s < 1.0 and ingest_s < 1.0, (healthz_s, ingest_s)
        # Beyond the per-source cap (128 by default) connections were answered 503 and closed.
        refused = _closed_by_server(socks[-1])
        assert refused.startswith(b"HTTP/1.1 503") or refused == b""
        assert proc.poll() is None
    finally:
        for s in socks:
            s.close()
        proc.kill()
        proc.wait(timeout=10)


def test_idle_and_half_sent_connections_are_closed(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "FLEETPROOF_HEADER_TIMEOUT_S": "1",
        "FLEETPROOF_BODY_TIMEOUT_S": "1",
        "FLEETPROOF_KEEPALIVE_TIMEOUT_S": "1",
        "FLEETPROOF_MAX_CONNECTIONS_PER_SOURCE": "8",
    }
    log = tmp_path / "server.log"
    proc = start_server(f"sqlite:///{tmp_path / 'store.db'}", port, log, env=env)
    try:
        silent, header, trickle = _hostile(port, 3)
        trickle.sendall(b'"id"')  # a little more body, then nothing
        kept_alive = _connect(port)
        kept_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = kept_alive.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        for s in (silent, header, trickle, kept_alive):
            assert b"200 OK" not in _closed_by_server(s)  # closed by the server, not answered
        # The per-source cap: 8 open from 127.0.0.2, the 9th is refused at once, 127.0.0.1 still served.
        held = [_connect(port) for _ in range(8)]
        extra = _connect(port)
        answer = _closed_by_server(extra)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 503"), answer
        if answer:
            assert b"Retry-After: 1" in answer and json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        for s in [*held, silent, header, trickle, kept_alive, extra]:
            s.close()
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
