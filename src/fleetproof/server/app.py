"""The FastAPI application factory.

Authentication happens before a body is parsed: an ASGI gate in front of the routes
answers 401 to any ``/api/`` request without credentials (the admin bearer token, or
for agent routes their own credential headers), so a malformed body from an
anonymous client is never even read. Agent routes then check their signature over
the raw body; admin routes check the token again as a dependency (both through
:mod:`fleetproof.server.admin_auth`). Every body, chunked
ones included, is held to ``max_body_bytes`` as it arrives. Validation errors
are 422 with a message, user errors 400, store conflicts 409, and values a store
cannot keep (a NUL byte in a string for PostgreSQL, say) 422 — never a 5xx for a
client's doing. A store that cannot be reached is 503 with ``Retry-After`` (logged
once per outage, :mod:`fleetproof.server.outage`); ``/healthz`` is liveness and never
touches the store, ``/readyz`` is readiness and does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import ClientDisconnect

from fleetproof import __version__
from fleetproof.errors import FleetproofError
from fleetproof.server.admin_auth import cookie_value, is_admin, require_admin
from fleetproof.server.context import ServerContext
from fleetproof.server.outage import RETRY_AFTER_S, is_unreachable, store_problem

__all__ = ["AGENT_PATHS", "create_app"]

log = logging.getLogger("fleetproof.server")

# Agent routes and the headers that carry their credential.
AGENT_PATHS: dict[str, str] = {
    "/api/v1/enroll": "authorization",
    "/api/v1/ingest": "x-fleetproof-signature",
    "/api/v1/agent/landmarks": "x-fleetproof-signature",
}

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class AuthGate:
    """Refuse anonymous ``/api/`` requests and oversized bodies before any route runs."""

    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        receive = _limited(receive, self.ctx.settings.max_body_bytes)
        if not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.ctx.settings.max_body_bytes:
            await _reply(send, 413, {"detail": f"body larger than {self.ctx.settings.max_body_bytes} bytes"})
            return
        needed = AGENT_PATHS.get(scope["path"])
        if needed is not None:
            ok = bool(headers.get(needed))
        else:
            cookie = cookie_value(headers.get("cookie", ""))
            ok = is_admin(
                self.ctx.settings.admin_token, scope["method"], headers.get("authorization"), cookie
            )
        if not ok:
            await _reply(send, 401, {"detail": "credentials required"}, {"www-authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)


class RequestMetrics:
    """Count requests by method, route and status class, and the time they take.

    A plain ASGI middleware rather than ``@app.middleware("http")``: that one runs the
    route in a task group, which wraps an exception raised while the body is read (the
    413 of :func:`_limited`) in an ``ExceptionGroup`` that the routes no longer recognise.
    """

    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counted(message: Any) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            if status < 500 and scope["path"].startswith("/api/"):
                self.ctx.outage.recovered()  # an API answer other than 5xx reached the store
            route = scope.get("route")
            self.ctx.metrics.observe_request(
                scope["method"], getattr(route, "path", "unmatched"), status, time.perf_counter() - started
            )


def _limited(receive: Any, limit: int) -> Any:
    """``receive`` that answers 413 once the body passes ``limit`` bytes, whatever its framing.

    A ``Content-Length`` above the limit is refused before the body is read (above); a
    chunked body declares no length, so it is counted as it arrives.
    """
    seen = 0

    async def counted() -> Any:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(
                    status_code=413,
                    detail=f"body larger than {limit} bytes",
                    headers={"Connection": "close"},
                )
        return message

    return counted


async def _reply(send: Any, status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    # Refused before its body was read: close, or the server would read and drop the whole body.
    headers.append((b"connection", b"close"))
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


def create_app(ctx: ServerContext, *, background: Any = None) -> FastAPI:
    """Build the app around ``ctx``; ``background`` (start()/stop()) runs beside it when given."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        if background is not None:
            background.start()
        try:
            yield
        finally:
            if background is not None:
                background.stop()

    app = FastAPI(
        title="fleetproof server",
        version=__version__,
        description="Fleet telemetry, inventory, health and location verdicts. Admin routes take "
        "`Authorization: Bearer <admin token>`; agent routes are signed with the device key.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    _install_error_handlers(app)

    from fleetproof.server.api_admin import make_admin_router
    from fleetproof.server.api_agent import make_agent_router

    app.include_router(make_agent_router(ctx))
    app.include_router(make_admin_router(ctx))
    _mount_dashboard(app, ctx)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers. It never touches the store."""
        return {"ok": True, "version": __version__}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        """Readiness: the store answers a query (a load balancer sends traffic elsewhere meanwhile)."""
        from sqlalchemy import text

        try:
            with ctx.db.read() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            ctx.outage.failed(exc)
            return _unavailable(store_problem(exc))
        ctx.outage.recovered()
        return JSONResponse({"ready": True, "version": __version__})

    @app.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    def metrics(request: Request) -> Response:
        from fleetproof.server.fleet_gauges import fleet_gauges

        gauges = fleet_gauges(ctx.db, ctx.clock())
        body, headers = ctx.metrics.exposition(gauges, request.headers.get("accept-encoding", ""))
        return Response(body, headers=headers)

    app.add_middleware(RequestMetrics, ctx=ctx)
    app.add_middleware(AuthGate, ctx=ctx)
    _publish_raw_body_schemas(app)
    return app


def _publish_raw_body_schemas(app: FastAPI) -> None:
    """Move the component schemas of raw-body routes (``x-fleetproof-defs``) where OpenAPI expects them."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if isinstance(operation, dict):
                    components.update(operation.pop("x-fleetproof-defs", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_dashboard(app: FastAPI, ctx: ServerContext) -> None:
    """Mount the dashboard: its page, assets and JSON, read through the store's dashboard source."""
    from fleetproof.server.dashboard.routes import make_router
    from fleetproof.server.dashboard_data import StoreDashboardSource

    check_admin = require_admin(lambda: ctx.settings.admin_token)
    app.include_router(make_router(lambda: StoreDashboardSource(ctx.db), check_admin))


def _unavailable(problem: str) -> JSONResponse:
    return JSONResponse(
        {"detail": f"the store is unreachable: {problem}", "ready": False},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _install_error_handlers(app: FastAPI) -> None:
    ctx: ServerContext = app.state.ctx

    async def store_down(_request: Request, exc: Exception) -> JSONResponse:
        ctx.outage.failed(exc)
        return _unavailable(store_problem(exc))

    for kind in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(kind, store_down)

    @app.exception_handler(ClientDisconnect)
    async def gone(request: Request, _exc: ClientDisconnect) -> Response:
        # The client's doing, not the server's: one line at debug level, no traceback.
        client = request.client.host if request.client else "?"
        log.debug("client %s disconnected mid-body (%s)", client, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Echo where and what, not the offending input: it may not even be JSON-encodable (inf, bytes).
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()[:20]
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(FleetproofError)
    async def user_error(_request: Request, exc: FleetproofError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(IntegrityError)
    async def conflict(_request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("store conflict: %s", exc.orig)
        return JSONResponse(
            {"detail": "conflicts with what is stored (duplicate or unknown reference)"}, status_code=409
        )

    @app.exception_handler(DataError)
    async def unstorable(_request: Request, exc: DataError) -> JSONResponse:
        log.info("value not storable: %s", exc.orig)
        return JSONResponse(
            {"detail": "a value cannot be stored (out of range or forbidden character)"}, status_code=422
        )
