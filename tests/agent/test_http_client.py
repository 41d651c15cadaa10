"""The agent's own HTTP client (standard library only) against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from fleetproof.agent.client import HttpTransport, StdlibClient
from fleetproof.agent.transport import OutboxItem, TransportError
from fleetproof.probe.keys import generate_key

SRC = Path(__file__).resolve().parents[2] / "src"


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Handler.seen.append((self.command, self.path, dict(self.headers), body))
        status, doc = {
            "/ok": (200, {"rejected": []}),
            "/api/v1/ingest": (200, {"rejected": [{"id": "b", "error": "bad kind"}]}),
            "/full/api/v1/ingest": (503, {"detail": "busy"}),
            "/bad/api/v1/ingest": (422, {"detail": "items: field required"}),
            "/ok/api/v1/enroll": (200, {"welcome": True}),
        }.get(self.path, (404, {"detail": "no such route"}))
        if self.path == "/nowhere-but-ok/api/v1/ingest":
            status, doc = 200, ["<html>a proxy's page</html>"]
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_answers_of_any_status_come_back(server: str) -> None:
    c = StdlibClient(5.0)
    r = c.post(server + "/ok", content=b'{"x": 1}', headers={"Content-Type": "application/json", "X-A": "1"})
    assert r.status_code == 200 and r.json() == {"rejected": []}
    method, path, headers, body = _Handler.seen[-1]
    assert (method, path, body, headers["X-A"]) == ("POST", "/ok", b'{"x": 1}', "1")
    missing = c.get(server + "/nowhere", headers={})
    assert missing.status_code == 404 and "no such route" in missing.text


def test_unreachable_and_non_http_urls_are_os_errors() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = StdlibClient(2.0)
    with pytest.raises(OSError):
        c.get(f"http://127.0.0.1:{port}/", headers={})
    with pytest.raises(OSError, match="not an http"):
        c.get("file:///etc/passwd", headers={})


def test_transport_maps_answers_onto_the_retry_policy(server: str) -> None:
    key = generate_key()
    items = [OutboxItem(i, "telemetry", 1.0, {"n": i}) for i in ("a", "b")]
    t = HttpTransport(server, "dev-1", key)
    t.send(items)
    assert t.rejected == [{"id": "b", "error": "bad kind"}]
    _, _, headers, body = _Handler.seen[-1]
    assert json.loads(body)["items"][0]["id"] == "a" and headers["Content-Type"] == "application/json"
    with pytest.raises(TransportError) as busy:
        HttpTransport(server + "/full", "dev-1", key).send(items)
    assert busy.value.retryable and "busy" in str(busy.value)
    with pytest.raises(TransportError) as bad:
        HttpTransport(server + "/bad", "dev-1", key).send(items)
    assert not bad.value.retryable and "field required" in str(bad.value)
    with pytest.raises(TransportError) as gone:
        HttpTransport("http://127.0.0.1:9", "dev-1", key, timeout_s=2.0).send(items)
    assert gone.value.retryable and "unreachable" in str(gone.value)


def test_the_agent_loads_no_http_package() -> None:
    """httpx would bring rich, pygments and click along: about 13 MB of the agent's memory."""
    code = (
        "import sys\n"
        "import fleetproof.agent.daemon, fleetproof.agent.client, fleetproof.agent.probing\n"
        "print(sorted(m for m in ('httpx', 'rich', 'pygments', 'click') if m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


class _Redirecting(BaseHTTPRequestHandler):
    """Answers every request with a redirect to ``target``; records what reached it."""

    target: ClassVar[str] = ""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(302)
        self.send_header("Location", _Redirecting.target + "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_redirects_are_answers_not_followed(server: str) -> None:
    """A redirect must not carry the signature or an enrollment token elsewhere, nor turn a POST
    into a GET whose 200 would count the batch as delivered."""
    _Redirecting.target = server
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        moved = f"http://127.0.0.1:{srv.server_address[1]}"
        r = StdlibClient(5.0).post(moved + "/enroll", content=b"{}", headers={"Authorization": "Bearer t0k"})
        assert r.status_code == 302
        with pytest.raises(TransportError) as refused:
            HttpTransport(moved, "dev-1", generate_key()).send([OutboxItem("a", "telemetry", 1.0, {})])
        assert not refused.value.retryable and "302" in str(refused.value)
        assert _Handler.seen == []  # nothing reached the redirect's target
    finally:
        srv.shutdown()
        srv.server_close()


class _Truncated(BaseHTTPRequestHandler):
    """An error answer that promises more body than it sends, then closes."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"busy")
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_a_broken_error_answer_is_a_network_error() -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Truncated)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        with pytest.raises(TransportError) as broken:
            HttpTransport(url, "dev-1", generate_key(), timeout_s=5.0).send(
                [OutboxItem("a", "telemetry", 1.0, {})]
            )
        assert broken.value.retryable and "unreachable" in str(broken.value)
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_2xx_answer_that_is_not_an_ingest_result_is_retried(server: str) -> None:
    """A proxy's page with 200: the batch may never have reached the server, so it is not dropped."""
    with pytest.raises(TransportError) as page:
        HttpTransport(server + "/nowhere-but-ok", "dev-1", generate_key()).send(
            [OutboxItem("a", "telemetry", 1.0, {})]
        )
    assert page.value.retryable


def test_enrollment_errors_are_clear(server: str, tmp_path: Path) -> None:
    from fleetproof.agent.client import enroll
    from fleetproof.agent.enroll_cli import host_inventory
    from fleetproof.errors import ConfigError, UnavailableError

    with pytest.raises(ConfigError, match="one word"):
        enroll(server, "fpe_abc\nX-Injected: 1", tmp_path / "s", host_inventory("h"))
    assert not (tmp_path / "s").exists()  # nothing written for a bad token
    with pytest.raises(UnavailableError, match="without a device id"):
        enroll(server + "/ok", "fpe_abc", tmp_path / "s2", host_inventory("h"))
