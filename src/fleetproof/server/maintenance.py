"""Background work of a server process: verdicts, silent hosts, webhooks, retention, nonces.

Each task is safe to run in several processes at once — work items are claimed in
the store, and retention takes a cross-process lock — so scaling out is a matter of
starting more processes. :func:`run_once` is what the background thread calls each
interval; tests call it directly with their own clock.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import select

from fleetproof.server.alerts import Poster, deliver_due, raise_alert
from fleetproof.server.context import ServerContext
from fleetproof.server.outage import is_unreachable
from fleetproof.server.store.models import Alert, Device

__all__ = ["Background", "check_silent_hosts", "run_once"]

log = logging.getLogger("fleetproof.server.maintenance")


def check_silent_hosts(ctx: ServerContext, now: float) -> int:
    """Open a host_silent alert for every host not heard from within ``silent_after_s``."""
    cutoff = now - ctx.settings.silent_after_s
    with ctx.db.read() as session:
        silent = list(
            session.execute(
                select(Device.id, Device.hostname, Device.last_seen).where(Device.last_seen < cutoff)
            )
        )
        already = set(
            session.scalars(
                select(Alert.subject).where(Alert.kind == "host_silent", Alert.closed_at.is_(None))
            )
        )
    opened = 0
    fresh = [row for row in silent if row[0] not in already and not str(row[0]).startswith("revoked:")]
    for start in range(0, len(fresh), 500):
        with ctx.db.write() as session:
            for device_id, hostname, last_seen in fresh[start : start + 500]:
                _alert, new = raise_alert(
                    session,
                    kind="host_silent",
                    subject=device_id,
                    device_id=device_id,
                    severity="warning",
                    message=f"{hostname} silent for {now - last_seen:.0f} s",
                    details={"last_seen": last_seen},
                    now=now,
                    webhooks=ctx.settings.webhooks,
                )
                opened += int(new)
    return opened


def run_once(ctx: ServerContext, *, poster: Poster | None = None, now: float | None = None) -> dict[str, Any]:
    """One round of every background task; returns what each did."""
    from fleetproof.server.api_agent import purge_nonces
    from fleetproof.server.pipeline import process_queue
    from fleetproof.server.retention import downsample

    now = ctx.clock() if now is None else now
    done: dict[str, Any] = {}
    done["verdicts"] = process_queue(ctx, now=now)
    done["silent_opened"] = check_silent_hosts(ctx, now)
    if poster is not None and ctx.settings.webhooks:
        done["webhooks_delivered"] = deliver_due(
            ctx.db, poster, now=now, max_attempts=ctx.settings.webhook_max_attempts
        )
    done["downsampled"] = downsample(ctx, now=now)
    done["nonces_purged"] = purge_nonces(ctx)
    return done


class Background:
    """A daemon thread running :func:`run_once` every ``maintenance_interval_s``."""

    def __init__(self, ctx: ServerContext, poster: Poster | None = None) -> None:
        self.ctx = ctx
        self.poster = poster
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="fleetproof-maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        interval = max(0.5, self.ctx.settings.maintenance_interval_s)
        # Verdicts want a shorter period than retention; run the queue every second between rounds.
        from fleetproof.server.pipeline import process_queue

        next_full = 0.0
        while not self._stop.wait(1.0):
            try:
                now = self.ctx.clock()
                if now >= next_full:
                    run_once(self.ctx, poster=self.poster, now=now)
                    next_full = now + interval
                else:
                    process_queue(self.ctx, now=now)
                self.ctx.outage.recovered()
            except Exception as exc:  # keep the server up; the next round retries
                if is_unreachable(exc):
                    self.ctx.outage.failed(exc)  # one line per outage, not one a second
                else:
                    log.exception("background work failed")
