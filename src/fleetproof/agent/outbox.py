"""The durable outbox: everything the agent sends waits here, on disk, until the server has it.

Properties, and how they are kept:

* **Nothing is lost when the agent dies.** Every ``put`` is a committed SQLite
  transaction (WAL journal, ``synchronous=FULL``) before it returns; ``kill -9``
  at any point leaves every committed item in the file.
* **At least once, with ids.** An item is deleted only after the transport has
  returned from ``send``; a crash between the two re-sends it after restart. Each
  item carries a unique ``id`` so the receiver drops duplicates.
* **Bounded.** At most ``max_items`` items and ``max_bytes`` of payload. When full,
  the oldest *telemetry* is dropped first (a newer sample supersedes it); only if
  no telemetry is left does the oldest item of any kind go. Drops are counted
  (``dropped_total``, kept across restarts) and exported as a metric.
* **Backoff with jitter.** After a failed delivery the next try waits
  ``d/2 + uniform(0, d/2)`` with ``d = min(max_delay_s, base_delay_s * 2**(failures-1))``,
  so many agents do not hammer a recovering server in step.
* **A failed write changes nothing.** When a write fails (a full disk, say: SQLite then
  often rolls the transaction back by itself), the transaction is rolled back if it is
  still open, the in-memory count and size are read again from the file, and the
  original error is raised (``database or disk is full``), so the agent's health says
  what went wrong and a count left too high cannot make the bound drop stored items
  once space returns.
* **Rejected is not retried.** Items a receiver rejects for good
  (``TransportError(retryable=False)``) are isolated one by one and moved to a
  ``rejected`` table (the newest 1000 kept) instead of blocking the queue.

The clock and the random source are injected, so tests can play an hour of
outage in milliseconds.
"""

from __future__ import annotations

import fcntl
import json
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fleetproof.agent.transport import ItemKind, OutboxItem, Transport, TransportError
from fleetproof.errors import ConfigError

__all__ = ["DeliveryReport", "Outbox"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_kind ON items(kind, seq);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""
REJECTED_KEPT = 1000


@dataclass
class DeliveryReport:
    delivered: int = 0
    rejected: int = 0
    failed: bool = False
    skipped_backoff: bool = False
    error: str | None = None


class Outbox:
    """A bounded, durable, at-least-once queue in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_items: int = 20_000,
        max_bytes: int = 200 * 1024 * 1024,
        base_delay_s: float = 1.0,
        max_delay_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.clock = clock
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._owner = self._claim(self.path)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # 512 KiB of page cache instead of SQLite's 2 MiB: items are appended and read oldest
            # first, so a larger cache only holds pages of a long outage (1.5 MB of the agent's memory).
            self._db.execute("PRAGMA cache_size=-512")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT count(*), coalesce(sum(length(payload)), 0) FROM items").fetchone()
            self._count, self._bytes = int(row[0]), int(row[1])
            self.dropped_total = int(self._meta("dropped_total"))
        except sqlite3.DatabaseError as exc:
            # A damaged file, or one held by another agent on the same state directory: say
            # which file and why, rather than a traceback (the file is left as it is, for a person).
            self._db.close()
            self._owner.close()
            raise ConfigError(f"cannot open the outbox {self.path}: {exc}") from None
        self.delivered_total = 0
        self.failures = 0
        self.next_attempt_at = 0.0

    @staticmethod
    def _claim(path: Path) -> IO[bytes]:
        """One outbox per file: the count and size that enforce the bound are kept in memory,
        so a second agent on the same state directory would let the file grow past it."""
        owner = open(path.with_name(path.name + ".lock"), "ab")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(owner.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner.close()
            raise ConfigError(
                f"another agent is using the outbox {path}; run one agent per state directory"
            ) from None
        return owner

    # -- bookkeeping -------------------------------------------------------
    def _meta(self, key: str) -> float:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row else 0.0

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._owner.close()

    # -- enqueue -----------------------------------------------------------
    def put(self, kind: ItemKind, payload: dict[str, Any], item_id: str | None = None) -> str:
        """Store one item durably and return its id (a new random one unless given)."""
        return self.put_many([(kind, payload, item_id)])[0]

    def put_many(self, entries: Sequence[tuple[ItemKind, dict[str, Any], str | None]]) -> list[str]:
        """Store several items in one transaction; return their ids in order."""
        now = self.clock()
        rows = [
            (item_id or uuid.uuid4().hex, kind, now, json.dumps(payload, separators=(",", ":")))
            for kind, payload, item_id in entries
        ]
        with self._lock:
            with self._transaction():
                for row in rows:
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO items (id, kind, created_at, payload) VALUES (?, ?, ?, ?)", row
                    )
                    if cur.rowcount:
                        self._count += 1
                        self._bytes += len(row[3])
                dropped = self._enforce_bound()
                if dropped:
                    self._db.execute(
                        "INSERT INTO meta (key, value) VALUES ('dropped_total', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                        (dropped,),
                    )
            self.dropped_total += dropped
        return [r[0] for r in rows]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (the caller holds ``self._lock``); on any error nothing changed.

        SQLite may already have rolled back by itself (it does on a full disk), in which case
        a ROLLBACK would fail with "no transaction is active" and hide the real error; the
        count and size kept in memory are read again from the file either way.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):  # the original error says more
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            with suppress(sqlite3.Error):
                self._resync()
            raise

    def _enforce_bound(self) -> int:
        """Drop oldest telemetry first, then oldest of any kind, until within both limits."""
        dropped = 0
        while self._count > self.max_items or (self._bytes > self.max_bytes and self._count > 1):
            row = (
                self._db.execute(
                    "SELECT seq, length(payload) FROM items WHERE kind = 'telemetry' ORDER BY seq LIMIT 1"
                ).fetchone()
                or self._db.execute("SELECT seq, length(payload) FROM items ORDER BY seq LIMIT 1").fetchone()
            )
            if row is None:
                break
            self._db.execute("DELETE FROM items WHERE seq = ?", (row[0],))
            self._count -= 1
            self._bytes -= int(row[1])
            dropped += 1
        return dropped

    def _resync(self) -> None:
        row = self._db.execute("SELECT count(*), coalesce(sum(length(payload)), 0) FROM items").fetchone()
        self._count, self._bytes = int(row[0]), int(row[1])

    # -- read and acknowledge ----------------------------------------------
    def peek(self, limit: int = 100) -> list[OutboxItem]:
        """The oldest ``limit`` items, without removing them."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, created_at, payload FROM items ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        items = []
        for item_id, kind, created_at, payload in rows:
            try:
                items.append(
                    OutboxItem(id=item_id, kind=kind, created_at=created_at, payload=json.loads(payload))
                )
            except (ValueError, TypeError):
                # A damaged row (an edit by hand, a fault SQLite did not catch) would otherwise stop
                # delivery for good: it is set aside with the rejected items, where it can be read.
                self._set_aside(item_id, kind, created_at, str(payload), "payload is not valid JSON")
        return items

    def ack(self, ids: Sequence[str]) -> None:
        """Remove delivered items."""
        with self._lock, self._transaction():
            for item_id in ids:
                row = self._db.execute(
                    "SELECT length(payload) FROM items WHERE id = ?", (item_id,)
                ).fetchone()
                if row is not None:
                    self._db.execute("DELETE FROM items WHERE id = ?", (item_id,))
                    self._count -= 1
                    self._bytes -= int(row[0])

    def _reject(self, item: OutboxItem, reason: str) -> None:
        self._set_aside(item.id, item.kind, item.created_at, json.dumps(item.payload), reason)

    def _set_aside(self, item_id: str, kind: str, created_at: float, payload: str, reason: str) -> None:
        """Move one item from the queue to the ``rejected`` table (the newest ``REJECTED_KEPT`` stay)."""
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT INTO rejected (id, kind, created_at, payload, reason, rejected_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (item_id, kind, created_at, payload, reason[:500], self.clock()),
            )
            self._db.execute(
                "DELETE FROM rejected WHERE seq <= (SELECT max(seq) FROM rejected) - ?", (REJECTED_KEPT,)
            )
            row = self._db.execute("SELECT length(payload) FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is not None:
                self._db.execute("DELETE FROM items WHERE id = ?", (item_id,))
                self._count -= 1
                self._bytes -= int(row[0])

    def rejected_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM rejected").fetchone()[0])

    # -- delivery ----------------------------------------------------------
    def backoff_delay_s(self) -> float:
        """The wait before the next try after ``self.failures`` failures in a row (jittered)."""
        d = min(self.max_delay_s, self.base_delay_s * 2 ** max(self.failures - 1, 0))
        return float(d / 2 + self.rng.uniform(0, d / 2))

    def deliver(
        self, transport: Transport, *, batch_size: int = 100, max_batches: int = 50
    ) -> DeliveryReport:
        """Send pending items in batches until empty, a failure, or ``max_batches``; honours backoff."""
        report = DeliveryReport()
        if self.clock() < self.next_attempt_at:
            report.skipped_backoff = True
            return report
        for _ in range(max_batches):
            batch = self.peek(batch_size)
            if not batch:
                break
            try:
                transport.send(batch)
            except TransportError as exc:
                if exc.retryable:
                    self._failed(report, str(exc))
                    break
                if not self._isolate(transport, batch, report):
                    break
                continue
            self.ack([i.id for i in batch])
            report.delivered += len(batch)
        if not report.failed:
            self.failures = 0
            self.next_attempt_at = 0.0
        self.delivered_total += report.delivered
        return report

    def _failed(self, report: DeliveryReport, error: str) -> None:
        self.failures += 1
        self.next_attempt_at = self.clock() + self.backoff_delay_s()
        report.failed = True
        report.error = error

    def _isolate(self, transport: Transport, batch: list[OutboxItem], report: DeliveryReport) -> bool:
        """Send one by one so that only the items rejected for good are set aside."""
        for item in batch:
            try:
                transport.send([item])
            except TransportError as exc:
                if exc.retryable:
                    self._failed(report, str(exc))
                    return False
                self._reject(item, str(exc))
                report.rejected += 1
                continue
            self.ack([item.id])
            report.delivered += 1
        return True

    def stats(self) -> dict[str, float]:
        return {
            "pending_items": float(self._count),
            "pending_bytes": float(self._bytes),
            "dropped_total": float(self.dropped_total),
            "delivered_total": float(self.delivered_total),
            "consecutive_failures": float(self.failures),
        }
