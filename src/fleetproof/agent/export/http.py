"""The local HTTP endpoints: ``/metrics`` (Prometheus text) and JSON at ``/v1/health``,
``/v1/inventory`` and ``/v1/metrics``.

Read-only by design: only GET and HEAD are answered; every other method gets
405. The server binds 127.0.0.1 unless told otherwise. It uses the standard
library's threading HTTP server to stay small, and renders the agent's families
once per collection round, on the collection thread right after the round (a few
ms with ``prometheus_client``), so a scrape only adds the ``process_*`` families of
this process (read from /proc at scrape time, so CPU and memory are current) and,
when the scraper sends ``Accept-Encoding: gzip``, compresses the answer.
"""

from __future__ import annotations

import gzip
import json
import math
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from fleetproof.agent.export.prometheus import CONTENT_TYPE, render
from fleetproof.agent.runner import AgentState
from fleetproof.errors import ConfigError
from fleetproof.netaddr import AddressError, parse_host_port

__all__ = ["ExporterServer", "parse_listen"]


def parse_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9410"`` -> ``("127.0.0.1", 9410)``; ``"[::1]:9410"`` works too."""
    try:
        return parse_host_port(value, any_port=True)  # port 0: any free port
    except AddressError as exc:
        raise ConfigError(f"setting listen: {exc}") from None


def _finite(data: Any) -> Any:
    """NaN and infinities are not JSON (``json.dumps`` would write bare ``NaN``); a reading that
    is not a number is shown as null, as it is on the wire to the server."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


class _Views:
    """Builds responses from the agent state, caching the Prometheus text per round."""

    def __init__(
        self, state: AgentState, hostname: str, interval_s: float | None, clock: Callable[[], float]
    ) -> None:
        self.state = state
        self.hostname = hostname
        self.interval_s = interval_s
        self.clock = clock
        self._cache: tuple[int, bytes] | None = None
        self._cache_lock = threading.Lock()
        self._process = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._process)

    def refresh(self) -> None:
        """Render the latest round (called on the collection thread after each round)."""
        with self._cache_lock:
            with self.state.lock:
                rounds = self.state.rounds
                if self._cache is not None and self._cache[0] == rounds:
                    return
                body = render(self.state, self.hostname).encode()
            self._cache = (rounds, body)

    def metrics_text(self) -> bytes:
        if self._cache is None or self._cache[0] != self.state.rounds:
            self.refresh()  # no round rendered yet (or rounds driven without listeners)
        cache = self._cache
        assert cache is not None
        return cache[1] + generate_latest(self._process)

    def health(self) -> dict[str, Any]:
        with self.state.lock:
            results = [r.as_dict() for r in self.state.results]
            if self.state.rounds == 0:
                results = [
                    {"component": c, "state": "initializing", "reason": "no collection round yet"}
                    for c in self.state.components
                ]
            overall = self.state.overall()
            stale = self._stale()
            if stale is not None:
                results.append(stale)
                overall = "unhealthy"
            return {
                "state": overall,
                "time": self.state.last_round_time,
                "hostname": self.hostname,
                "components": results,
            }

    def _stale(self) -> dict[str, Any] | None:
        """A hung collector stops the rounds; say so rather than serve old health as current."""
        last = self.state.last_round_time
        if self.interval_s is None or last is None:
            return None
        age_s = self.clock() - last
        if age_s <= 3 * self.interval_s + 30:
            return None
        return {
            "component": "agent",
            "state": "unhealthy",
            "reason": f"no collection round for {age_s:.0f} s (every {self.interval_s:g} s); a read may hang",
            "suggested_action": "Check the agent's log and the vendor driver; restart the agent.",
            "device_uuid": None,
            "device_index": None,
        }

    def inventory(self) -> dict[str, Any] | None:
        with self.state.lock:
            inv = self.state.inventory
        return inv.to_dict() if inv is not None else None

    def telemetry(self) -> dict[str, Any] | None:
        with self.state.lock:
            tel = self.state.telemetry
        return tel.to_dict() if tel is not None else None


def _accepts_gzip(header: str) -> bool:
    """True when ``Accept-Encoding`` lists gzip with a non-zero quality (``gzip;q=0`` refuses it)."""
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # An idle or trickling client (slowloris) gets its connection closed instead of holding a
    # thread forever.
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not logged
        return None

    def _send(
        self, status: int, body: bytes, content_type: str, head: bool = False, compress: bool = False
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if compress and _accepts_gzip(self.headers.get("Accept-Encoding", "")):
            body = gzip.compress(body, compresslevel=5)
            self.send_header("Content-Encoding", "gzip")
        if compress:
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status == 405:
            self.send_header("Allow", "GET, HEAD")
            # The refused request's body is never read; on a kept-alive connection it would be
            # parsed as the next request, so the connection ends here.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, data: Any, head: bool) -> None:
        self._send(
            status,
            json.dumps(_finite(data), separators=(",", ":"), allow_nan=False).encode(),
            "application/json",
            head,
        )

    def do_GET(self, head: bool = False) -> None:
        views = self.server.views
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, views.metrics_text(), CONTENT_TYPE, head, compress=True)
        elif path == "/v1/health":
            self._json(200, views.health(), head)
        elif path in ("/v1/inventory", "/v1/metrics"):
            data = views.inventory() if path == "/v1/inventory" else views.telemetry()
            if data is None:
                self._json(503, {"error": "no collection round yet"}, head)
            else:
                self._json(200, data, head)
        elif path == "/":
            self._json(200, {"endpoints": ["/metrics", "/v1/health", "/v1/inventory", "/v1/metrics"]}, head)
        else:
            self._json(404, {"error": f"no such endpoint: {path}"}, head)

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def _refuse(self) -> None:
        self._json(405, {"error": "this agent is read-only: only GET and HEAD are accepted"}, False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, WebDAV's, made-up ones) is refused the same way;
        # the standard library would answer 501, which reads as "not yet" rather than "never".
        if name.startswith("do_"):
            return self._refuse
        raise AttributeError(name)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    views: _Views


class _Server6(_Server):
    address_family = socket.AF_INET6


class ExporterServer:
    """Serves the endpoints on a background thread; ``port=0`` picks a free port."""

    def __init__(
        self,
        state: AgentState,
        hostname: str,
        host: str = "127.0.0.1",
        port: int = 9410,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            server_class = _Server6 if ":" in host else _Server
            self._server = server_class((host, port), _Handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self._server.views = _Views(state, hostname, interval_s, clock)
        self._thread: threading.Thread | None = None
        self._state = state

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._state.listeners.append(self._server.views.refresh)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fleetproof-exporter", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        refresh = self._server.views.refresh
        if refresh in self._state.listeners:
            self._state.listeners.remove(refresh)
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
