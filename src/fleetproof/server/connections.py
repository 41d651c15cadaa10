"""Connection limits and deadlines, below the HTTP parser.

uvicorn closes a connection that is idle *after* a response (``timeout_keep_alive``),
but not one that never finishes its request: a client that sends a header line every
few seconds, or trickles a body, holds a socket and a file descriptor for as long as it
likes, and enough of them exhaust the process's descriptors so that nobody else gets in.

:func:`guarded_protocol` wraps uvicorn's HTTP protocol (httptools when installed, else
h11) in a thin :class:`asyncio.Protocol` that

* refuses a connection beyond ``max_connections`` in all, or beyond
  ``max_connections_per_source`` from one peer address, with an immediate ``503`` and a
  close, before the parser sees a byte (the descriptor is given back at once);
* closes a connection whose request head is not complete ``header_timeout_s`` after the
  connection opened or after the previous response ended;
* closes a connection whose request body is not complete ``body_timeout_s`` after its
  head arrived.

The wrapper learns where a request stands from the ASGI calls of its own connection:
the inner protocol's ``app`` is replaced, per connection, by a wrapper that reports the
start of a request, the end of its body and the end of its response. Everything else
(parsing, flow control, keep-alive, shutdown) stays uvicorn's.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConnectionGuard", "ConnectionLimits", "effective_max_connections", "guarded_protocol"]

log = logging.getLogger("fleetproof.server.connections")

# Descriptors kept back for what is not a client connection: the store's pool, SQLite's WAL
# and shared-memory files, logs, the listening socket, webhook deliveries.
RESERVED_FDS = 64


def effective_max_connections(wanted: int) -> int:
    """``wanted``, lowered to what the process's descriptor limit leaves for connections."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, int(soft) - RESERVED_FDS))


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 1000
    max_connections_per_source: int = 128  # 0: no per-source cap (behind a load balancer)
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0


@dataclass
class ConnectionGuard:
    """Counts of open connections, in all and per peer address (one event loop, no locks needed)."""

    limits: ConnectionLimits
    total: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    def admit(self, source: str) -> str | None:
        """Take a slot for a connection from ``source``; the reason when there is none."""
        if self.total >= self.limits.max_connections:
            reason = f"server at its limit of {self.limits.max_connections} connections"
        elif 0 < self.limits.max_connections_per_source <= self.by_source[source]:
            reason = f"too many connections from {source}"
        else:
            self.total += 1
            self.by_source[source] += 1
            return None
        self.refused += 1
        return reason

    def release(self, source: str) -> None:
        self.total -= 1
        self.by_source[source] -= 1
        if self.by_source[source] <= 0:
            del self.by_source[source]


def _refusal(reason: str) -> bytes:
    body = ('{"detail": "' + reason.replace('"', "'") + '"}').encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _has_body(scope: dict[str, Any]) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


def guarded_protocol(guard: ConnectionGuard, base: type[asyncio.Protocol] | None = None) -> type[Any]:
    """A uvicorn HTTP protocol class (``uvicorn.Config(http=...)``) that enforces ``guard``'s limits."""
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    inner_class: Any = base
    limits = guard.limits

    class GuardedHttpProtocol(asyncio.Protocol):
        def __init__(
            self,
            config: Any,
            server_state: Any,
            app_state: Any,
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            self.inner = inner_class(
                config=config, server_state=server_state, app_state=app_state, _loop=_loop
            )
            self.loop = _loop or asyncio.get_event_loop()
            self.app = config.loaded_app
            self.transport: Any = None
            self.source = ""
            self.admitted = False
            self.timer: asyncio.TimerHandle | None = None

        # -- deadlines -----------------------------------------------------
        def _arm(self, seconds: float, what: str) -> None:
            self._disarm()
            if seconds > 0:
                self.timer = self.loop.call_later(seconds, self._expire, what, seconds)

        def _disarm(self) -> None:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

        def _expire(self, what: str, seconds: float) -> None:
            self.timer = None
            if self.transport is not None and not self.transport.is_closing():
                log.debug("closed connection from %s: %s not complete in %g s", self.source, what, seconds)
                self.transport.abort()

        async def _tracked(self, scope: Any, receive: Any, send: Any) -> None:
            """The app, as this connection's request sees it: reports head, body and response ends."""
            if scope.get("type") != "http":
                self._disarm()
                await self.app(scope, receive, send)
                return
            if _has_body(scope):
                self._arm(limits.body_timeout_s, "request body")
            else:
                self._disarm()

            async def body_tracked() -> Any:
                message = await receive()
                if message.get("type") == "http.request" and not message.get("more_body", False):
                    self._disarm()
                return message

            async def response_tracked(message: Any) -> None:
                await send(message)
                if message.get("type") == "http.response.body" and not message.get("more_body", False):
                    # The next request's head must come in time too (idle time counts).
                    self._arm(limits.header_timeout_s, "request head")

            await self.app(scope, body_tracked, response_tracked)

        # -- asyncio.Protocol ----------------------------------------------
        def connection_made(self, transport: Any) -> None:  # uvloop's transports are not asyncio's classes
            peer = transport.get_extra_info("peername")
            self.source = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
            reason = guard.admit(self.source)
            if reason is not None:
                log.debug("refused a connection from %s: %s", self.source, reason)
                transport.write(_refusal(reason))
                transport.close()
                return
            self.admitted = True
            self.transport = transport
            self.inner.app = self._tracked
            self.inner.connection_made(transport)
            self._arm(limits.header_timeout_s, "request head")

        def data_received(self, data: bytes) -> None:
            if self.admitted:
                self.inner.data_received(data)

        def eof_received(self) -> bool | None:
            if self.admitted:
                return bool(self.inner.eof_received())
            return None

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.admitted:
                return
            self.admitted = False
            self._disarm()
            guard.release(self.source)
            self.inner.connection_lost(exc)

        def pause_writing(self) -> None:
            if self.admitted:
                self.inner.pause_writing()

        def resume_writing(self) -> None:
            if self.admitted:
                self.inner.resume_writing()

    return GuardedHttpProtocol
