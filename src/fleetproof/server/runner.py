"""Starting the server: settings → store (migrated) → app → uvicorn."""

from __future__ import annotations

import logging
from typing import Any

from fleetproof.errors import UnavailableError
from fleetproof.server.config import ServerSettings
from fleetproof.server.connections import (
    ConnectionGuard,
    ConnectionLimits,
    effective_max_connections,
    guarded_protocol,
)
from fleetproof.server.context import ServerContext
from fleetproof.server.store.db import Database

__all__ = ["build_context", "connection_limits", "serve"]

log = logging.getLogger("fleetproof.server")


def build_context(settings: ServerSettings) -> ServerContext:
    """Open and migrate the store; the record check uses the probe part's verifier."""
    from sqlalchemy.exc import OperationalError

    from fleetproof.server.records_check import check_probe_record

    db = Database(settings.database_url())
    try:
        head = db.migrate()
    except OperationalError as exc:
        raise UnavailableError(f"cannot reach the store: {str(exc.orig).strip().splitlines()[0]}") from None
    log.info("store %s at revision %s", db.engine.url.render_as_string(hide_password=True), head)
    from fleetproof.server.engine import GeoVerifier, GeoVetter
    from fleetproof.server.vetting import StoreMesh

    ctx = ServerContext(settings=settings, db=db, check_record=check_probe_record, vetter=GeoVetter())
    ctx.verifier = GeoVerifier(mesh=StoreMesh(ctx))
    return ctx


def serve(settings: ServerSettings, *, log_level: str = "info") -> int:
    import uvicorn

    from fleetproof.errors import ConfigError
    from fleetproof.server.alerts import httpx_poster
    from fleetproof.server.app import create_app
    from fleetproof.server.logs import LOG_FORMATS, configure_logging
    from fleetproof.server.maintenance import Background

    if settings.log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {settings.log_format!r}")
    configure_logging(log_level, settings.log_format)
    host, port = settings.listen_address()
    ctx = build_context(settings)
    background = Background(ctx, httpx_poster()) if settings.background else None
    app = create_app(ctx, background=Services([background, make_anchorer(ctx, httpx_poster())]))
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # the handlers above, so that --log-format covers uvicorn's lines too
        access_log=False,
        http=guarded_protocol(ConnectionGuard(connection_limits(settings))),
        timeout_keep_alive=max(1, round(settings.keepalive_timeout_s)),
    )
    return 0


class Services:
    """Things that run beside the app (background work, audit anchoring): started and stopped together."""

    def __init__(self, services: list[Any]) -> None:
        self.services = [s for s in services if s is not None]

    def start(self) -> None:
        for service in self.services:
            service.start()

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def make_anchorer(ctx: ServerContext, poster: Any) -> Any:
    """The audit anchor writer of this process (its key made on first start)."""
    from fleetproof.server.anchor import Anchorer, anchor_paths, load_or_create_key

    path, key_path = anchor_paths(ctx.settings)
    log.info("audit checkpoints go to %s", path)
    return Anchorer(
        ctx.db,
        path,
        load_or_create_key(key_path),
        interval_s=ctx.settings.audit_anchor_interval_s,
        webhooks=ctx.settings.webhooks,
        poster=poster,
        syslog=ctx.settings.audit_anchor_syslog,
    )


def connection_limits(settings: ServerSettings) -> ConnectionLimits:
    """The settings' connection limits, the total lowered to what the descriptor limit allows."""
    total = effective_max_connections(settings.max_connections)
    if total < settings.max_connections:
        log.warning(
            "max_connections lowered from %d to %d to fit the open-file limit (raise `ulimit -n`)",
            settings.max_connections,
            total,
        )
    return ConnectionLimits(
        max_connections=total,
        max_connections_per_source=settings.max_connections_per_source,
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
    )
