"""Server logs: a client that hangs up mid-body is one debug line, and JSON lines on request."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import SERVER_TOKEN, free_port, start_server

from fleetproof.agent.client import enroll
from fleetproof.agent.enroll_cli import host_inventory
from fleetproof.probe.keys import load_private_key
from fleetproof.protocol.reqsign import sign_request
from fleetproof.server.logs import configure_logging

ADMIN = {"Authorization": f"Bearer {SERVER_TOKEN}"}


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_level_logger_message_and_the_traceback(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    logging.getLogger("fleetproof.server").info("store %s at revision %s", "sqlite", "0001")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("failed")
    logging.getLogger("fleetproof.server").debug("not shown at info")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["level"], e["logger"], e["message"]) for e in lines] == [
        ("info", "fleetproof.server", "store sqlite at revision 0001"),
        ("error", "uvicorn.error", "failed"),
    ]
    assert "ValueError: boom" in lines[1]["exception"] and lines[0]["time"].endswith("+00:00")


@pytest.mark.integration
def test_a_client_gone_mid_body_is_one_debug_line(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    db = f"sqlite:///{tmp_path / 'store.db'}"
    proc = start_server(db, port, log, extra_args=("--log-level", "debug", "--log-format", "json"))
    try:
        httpx.post(f"{base}/api/v1/zones", json={"id": "z", "allowed_countries": ["DE"]}, headers=ADMIN)
        token = httpx.post(f"{base}/api/v1/enrollment-tokens", json={"zone": "z"}, headers=ADMIN).json()[
            "token"
        ]
        identity = enroll(base, token, tmp_path / "agent", host_inventory("log-host"))
        key = load_private_key(tmp_path / "agent" / "device.key")
        headers = sign_request(key, identity.device_id, "POST", "/api/v1/ingest", b"{}")
        head = ["POST /api/v1/ingest HTTP/1.1", "Host: x", "Content-Length: 100000"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b'{"items": [')
            assert httpx.get(f"{base}/healthz").status_code == 200  # the head has been read by now
        deadline = time.monotonic() + 30  # an upper bound only: the line normally appears at once
        while "disconnected" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    gone = [e for e in entries if "disconnected" in e["message"]]
    assert len(gone) == 1 and gone[0]["level"] == "debug", gone
    assert not [e for e in entries if "exception" in e or e["level"] in ("error", "critical")], entries
