from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from fleetproof.agent.outbox import Outbox
from fleetproof.agent.transport import OutboxItem, TransportError


class RecordingTransport:
    """A test double for the server client: records deliveries, can be down or reject ids."""

    def __init__(self) -> None:
        self.down = False
        self.reject: set[str] = set()
        self.delivered: list[OutboxItem] = []
        self.attempts = 0

    def send(self, items: Sequence[OutboxItem]) -> None:
        self.attempts += 1
        if self.down:
            raise TransportError("connection refused")
        bad = [i.id for i in items if i.id in self.reject]
        if bad:
            raise TransportError(f"422: malformed item {bad[0]}", retryable=False)
        self.delivered.extend(items)


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_put_peek_ack_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    ids = [box.put("telemetry", {"n": n}) for n in range(5)]
    assert len(set(ids)) == 5 and len(box) == 5
    items = box.peek(3)
    assert [i.payload["n"] for i in items] == [0, 1, 2] and items[0].id == ids[0]
    box.ack([ids[0], ids[1]])
    assert [i.payload["n"] for i in box.peek(10)] == [2, 3, 4]


def test_same_id_is_stored_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.put("health", {"a": 1}, item_id="fixed")
    box.put("health", {"a": 2}, item_id="fixed")
    assert len(box) == 1 and box.peek()[0].payload == {"a": 1}


def test_items_survive_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    ids = box.put_many([("inventory", {"x": 1}, None), ("probe_record", {"id": "r1"}, "r1")])
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert [i.id for i in again.peek()] == ids and again.size_bytes > 0


def test_bound_drops_oldest_telemetry_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_items=5)
    box.put("health", {"keep": "h"})
    for n in range(6):
        box.put("telemetry", {"n": n})
    box.put("inventory", {"keep": "i"})
    kinds = [(i.kind, i.payload) for i in box.peek()]
    assert len(box) == 5
    assert ("health", {"keep": "h"}) in kinds and ("inventory", {"keep": "i"}) in kinds
    assert [p["n"] for k, p in kinds if k == "telemetry"] == [3, 4, 5]
    assert box.dropped_total == 3
    box.close()
    assert Outbox(tmp_path / "o.db", max_items=5).dropped_total == 3  # the count survives restarts


def test_bound_without_telemetry_drops_oldest_of_any_kind(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_items=2)
    for n in range(3):
        box.put("health", {"n": n})
    assert [i.payload["n"] for i in box.peek()] == [1, 2]


def test_byte_bound(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_bytes=300)
    for n in range(10):
        box.put("telemetry", {"n": n, "pad": "x" * 80})
    assert box.size_bytes <= 300 and len(box) == 3


def test_backoff_grows_with_jitter_and_caps(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", base_delay_s=1.0, max_delay_s=60.0, rng=random.Random(4))
    for failures, (lo, hi) in [(1, (0.5, 1.0)), (2, (1.0, 2.0)), (4, (4.0, 8.0)), (20, (30.0, 60.0))]:
        box.failures = failures
        delays = {box.backoff_delay_s() for _ in range(50)}
        assert all(lo <= d <= hi for d in delays) and len(delays) > 40  # jittered, within the band


def test_delivery_retries_after_backoff_then_resets(tmp_path: Path) -> None:
    clock = Clock()
    box = Outbox(tmp_path / "o.db", clock=clock, base_delay_s=10, rng=random.Random(1))
    net = RecordingTransport()
    ids = [box.put("telemetry", {"n": n}) for n in range(250)]
    net.down = True
    report = box.deliver(net, batch_size=100)
    assert report.failed and box.failures == 1 and len(box) == 250
    assert box.deliver(net).skipped_backoff and net.attempts == 1  # too early: no attempt
    clock.t = box.next_attempt_at
    net.down = False
    report = box.deliver(net, batch_size=100)
    assert report.delivered == 250 and len(box) == 0 and box.failures == 0
    assert [i.id for i in net.delivered] == ids


def test_rejected_items_are_set_aside_not_retried(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    ids = [box.put("health", {"n": n}) for n in range(5)]
    net = RecordingTransport()
    net.reject = {ids[2]}
    report = box.deliver(net, batch_size=5)
    assert report.delivered == 4 and report.rejected == 1 and not report.failed
    assert [i.id for i in net.delivered] == [ids[0], ids[1], ids[3], ids[4]]
    assert len(box) == 0 and box.rejected_count() == 1


def test_transport_protocol_matches_the_double() -> None:
    from fleetproof.agent.transport import Transport

    transport: Transport = RecordingTransport()
    transport.send([])


@pytest.mark.parametrize("kind", ["telemetry", "inventory", "health", "probe_record"])
def test_every_kind_round_trips(tmp_path: Path, kind: str) -> None:
    box = Outbox(tmp_path / "o.db")
    box.put(kind, {"k": kind})  # type: ignore[arg-type]
    assert box.peek()[0].kind == kind


def test_a_damaged_row_is_set_aside_and_delivery_goes_on(tmp_path: Path) -> None:
    """A payload that is no longer JSON (edited by hand, or damage SQLite did not catch) used to make
    every peek raise, so nothing was ever delivered again."""
    import sqlite3

    box = Outbox(tmp_path / "o.db")
    ids = [box.put("telemetry", {"n": n}) for n in range(3)]
    box.close()
    db = sqlite3.connect(tmp_path / "o.db")
    db.execute("UPDATE items SET payload = '{\"n\": 1' WHERE id = ?", (ids[1],))
    db.commit()
    db.close()
    box = Outbox(tmp_path / "o.db")
    transport = RecordingTransport()
    box.deliver(transport)
    assert [i.payload["n"] for i in transport.delivered] == [0, 2]
    assert len(box) == 0 and box.rejected_count() == 1
