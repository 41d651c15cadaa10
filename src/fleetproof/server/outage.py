"""The store being unreachable: said once per outage, answered 503 with ``Retry-After``.

While PostgreSQL is down (or restarting, or the SQLite file is locked for longer than the
busy timeout) every request that needs the store fails the same way. Logging each of them
would bury the one line that matters, so :class:`StoreOutage` logs the first failure of
an outage at warning level and the first success after it at info level, and nothing in
between. Requests meanwhile get ``503 Service Unavailable`` with ``Retry-After``, which
agents treat as "try again later" (their outbox keeps everything).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

__all__ = ["RETRY_AFTER_S", "StoreOutage", "is_unreachable", "store_problem"]

log = logging.getLogger("fleetproof.server")

RETRY_AFTER_S = 5


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the store cannot be reached now (as opposed to a bad statement)."""
    from sqlalchemy.exc import InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout)


def store_problem(exc: BaseException) -> str:
    """The first line of the driver's message, without the SQL that failed."""
    orig: Any = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


class StoreOutage:
    """Whether the store is known to be down, and since when; logs only the transitions."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.since: float | None = None
        self.outages = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self.since is not None:
                return
            self.since = self._clock()
            self.outages += 1
        log.warning(
            "store unreachable (%s); answering 503 with Retry-After until it is back", store_problem(exc)
        )

    def recovered(self) -> None:
        if self.since is None:  # the common case, without the lock
            return
        with self._lock:
            if self.since is None:
                return
            lasted = self._clock() - self.since
            self.since = None
        log.info("store reachable again after %.0f s", lasted)
