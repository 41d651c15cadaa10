"""Ingest of outbox items from an authenticated agent.

A request carries a batch of outbox items (:mod:`fleetproof.protocol.items`). The
envelope is validated as a whole (a malformed envelope is a 422); each item's payload
is then validated against its kind's wire model, and an item that fails is reported
back as rejected while the good items are stored. Items whose ``(device, id)`` was
stored before are counted as duplicates and ignored, which makes re-delivery after a
crash or a timeout harmless. Everything one request stores commits in one
transaction, and the agent is answered only after the commit: what was acknowledged
is durable.

The health roll-up and its alerts are :mod:`fleetproof.server.health_rollup`; the
envelope and the item kinds are :mod:`fleetproof.protocol.items`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fleetproof.protocol.items import PAYLOAD_MODELS, IngestItem
from fleetproof.protocol.wire import HealthEvent, InventoryReport, TelemetryReport
from fleetproof.server import audit, health_rollup
from fleetproof.server.alerts import resolve_alert
from fleetproof.server.store.db import Database, strict_json
from fleetproof.server.store.models import (
    Accelerator,
    Device,
    HealthRecord,
    InventoryRecord,
    LatestMetrics,
    Measurement,
    TelemetryRecord,
    VerdictQueue,
)
from fleetproof.server.store.upsert import core_table, upsert

__all__ = [
    "IngestResult",
    "RecordCheck",
    "TimeWindow",
    "ingest_items",
    "out_of_column_range",
]

_AHEAD = "time is ahead of the server's clock by more than the replay window"


@dataclass(frozen=True)
class TimeWindow:
    """The times an item may plausibly carry: not older than the store keeps, nor after its first
    start, nor further ahead than the replay window. −1e308 and 1e308 are finite, yet one such
    time would pin a host's "newest" state or sit outside every query for good."""

    oldest: float = float("-inf")
    latest: float = float("inf")

    def problem(self, t: float) -> str | None:
        if t > self.latest:
            return _AHEAD
        if not t >= self.oldest:
            return f"time is older than the server keeps or was started (before {self.oldest:.0f})"
        return None


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckedRecord:
    landmark_id: str
    time: float
    rtt_ms: float
    record: dict[str, Any]


# Checks a probe record's landmark signature against the registered landmarks and
# that it names this device; returns the stored form or raises ValueError with the reason.
RecordCheck = Callable[[Session, str, dict[str, Any]], CheckedRecord]


_KIND_TABLE: dict[str, Any] = {
    "telemetry": TelemetryRecord,
    "inventory": InventoryRecord,
    "health": HealthRecord,
    "probe_record": Measurement,
}


@dataclass
class _Parsed:
    telemetry: list[tuple[str, TelemetryReport]] = field(default_factory=list)
    inventory: list[tuple[str, InventoryReport]] = field(default_factory=list)
    health: list[tuple[str, HealthEvent]] = field(default_factory=list)
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _existing_ids(session: Session, device_id: str, items: Sequence[Any]) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    for kind, table in _KIND_TABLE.items():
        ids = [i.id for i in items if i.kind == kind]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = session.scalars(
                select(table.item_id).where(table.device_id == device_id, table.item_id.in_(chunk))
            )
            seen.update((kind, r) for r in rows)
    return seen


def _parse(items: Sequence[Any], result: IngestResult, window: TimeWindow) -> _Parsed:
    parsed = _Parsed()
    for item in items:
        if item.kind == "probe_record":
            parsed.records.append((item.id, item.payload))
            continue
        try:
            model = item.payload
            if not isinstance(model, BaseModel):
                model = PAYLOAD_MODELS[item.kind].model_validate(item.payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            result.rejected.append({"id": item.id, "error": f"{item.kind} payload: {where}: {first['msg']}"})
            continue
        problem = window.problem(model.time)  # type: ignore[attr-defined]
        if problem:
            result.rejected.append({"id": item.id, "error": f"{item.kind} payload: {problem}"})
            continue
        too_big = out_of_column_range(model)
        if too_big:
            result.rejected.append({"id": item.id, "error": f"{item.kind} payload: {too_big}"})
            continue
        if isinstance(model, TelemetryReport):
            parsed.telemetry.append((item.id, model))
        elif isinstance(model, InventoryReport):
            parsed.inventory.append((item.id, model))
        elif isinstance(model, HealthEvent):
            parsed.health.append((item.id, model))
    return parsed


_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


def out_of_column_range(report: BaseModel) -> str | None:
    """Why an integer of ``report`` does not fit its store column (the wire models leave them unbounded).

    Such a value was a 500 on SQLite (the driver overflows) and failed the whole batch on
    PostgreSQL; said per item, the rest of the batch is kept.
    """
    accelerators = getattr(report, "accelerators", [])
    for n, acc in enumerate(accelerators):
        if acc.index > _INT32_MAX:
            return f"accelerators.{n}.index: larger than {_INT32_MAX}"
        memory = getattr(acc, "memory_total_bytes", None)
        if memory is not None and memory > _INT64_MAX:
            return f"accelerators.{n}.memory_total_bytes: larger than {_INT64_MAX}"
    return None


def ingest_items(
    db: Database,
    session: Session,
    device: Device,
    items: Sequence[Any],
    *,
    now: float,
    check_record: RecordCheck,
    webhooks: Sequence[str] = (),
    max_ahead_s: float = 300.0,
    oldest_ok: float = float("-inf"),
) -> IngestResult:
    """Store a batch for ``device`` inside the caller's write transaction.

    An item dated more than ``max_ahead_s`` after ``now`` is rejected: the newest item wins
    the current metrics, health and inventory, so one report from a clock years ahead would
    otherwise hide every later one. (The agent's clock is already held to the replay window
    by the request signature, so honest items are never that far ahead.) An item whose
    ``created_at`` or payload time is before ``oldest_ok`` is rejected too.
    """
    result = IngestResult()
    seen = _existing_ids(session, device.id, items)
    fresh: list[IngestItem] = []
    in_batch: set[tuple[str, str]] = set()
    for item in items:
        key = (item.kind, item.id)
        if key in seen or key in in_batch:
            result.duplicates += 1
        else:
            in_batch.add(key)
            fresh.append(item)
    window = TimeWindow(oldest_ok, now + max_ahead_s)
    plausible = []
    for item in fresh:
        problem = window.problem(item.created_at)
        if problem:
            result.rejected.append({"id": item.id, "error": f"created_at: {problem}"})
        else:
            plausible.append(item)
    parsed = _parse(plausible, result, window)
    _store_telemetry(session, device, parsed.telemetry)
    _store_inventory(session, device, parsed.inventory, now)
    _store_health(session, device, parsed.health, now, webhooks)
    _store_records(db, session, device, parsed.records, result, now, check_record, window)
    for kind, n in (
        ("telemetry", len(parsed.telemetry)),
        ("inventory", len(parsed.inventory)),
        ("health", len(parsed.health)),
    ):
        if n:
            result.by_kind[kind] = n
    result.accepted = len(fresh) - len(result.rejected)
    device.last_seen = now
    resolve_alert(session, kind="host_silent", subject=device.id, now=now, webhooks=webhooks)
    return result


def _store_telemetry(session: Session, device: Device, reports: list[tuple[str, TelemetryReport]]) -> None:
    if not reports:
        return
    rows = []
    latest: dict[str, dict[str, Any]] = {}
    for item_id, report in reports:
        # Models go to the store's encoder as they are (pydantic-core writes them without a dict copy).
        data = {"accelerators": report.accelerators, "host_metrics": report.host_metrics}
        rows.append({"device_id": device.id, "item_id": item_id, "time": report.time, "data": data})
        for acc in report.accelerators:
            prev = latest.get(acc.uuid)
            if prev is None or prev["time"] <= report.time:
                latest[acc.uuid] = {
                    "device_id": device.id,
                    "uuid": acc.uuid,
                    "index": acc.index,
                    "time": report.time,
                    "metrics": dict(acc.metrics),
                }
        if report.host_metrics and ("host" not in latest or latest["host"]["time"] <= report.time):
            latest["host"] = {
                "device_id": device.id,
                "uuid": "host",
                "index": -1,
                "time": report.time,
                "metrics": dict(report.host_metrics),
            }
    if session.get_bind().dialect.name == "postgresql":
        _insert_telemetry_pg(session, rows)
    else:
        session.execute(core_table(TelemetryRecord).insert(), rows)
    # Keep the newest values: only replace a stored row that is older.
    stored = {
        r.uuid: r.time
        for r in session.execute(
            select(LatestMetrics.uuid, LatestMetrics.time).where(LatestMetrics.device_id == device.id)
        )
    }
    newer = [row for uuid, row in latest.items() if stored.get(uuid, float("-inf")) <= row["time"]]
    upsert(session, LatestMetrics, newer, ["device_id", "uuid"])


def _insert_telemetry_pg(session: Session, rows: list[dict[str, Any]]) -> None:
    """One statement for the whole batch, its rows passed as one JSON array that PostgreSQL unpacks.

    psycopg's executemany sends a query per row, and its text-array adapter escapes every
    character of every document in Python; one JSON parameter costs neither.
    """
    batch = [{"d": r["device_id"], "i": r["item_id"], "t": r["time"], "data": r["data"]} for r in rows]
    session.execute(
        text(
            "INSERT INTO telemetry (device_id, item_id, time, data) "
            "SELECT x->>'d', x->>'i', CAST(x->>'t' AS float8), x->'data' "
            "FROM json_array_elements(CAST(:batch AS json)) AS x"
        ),
        {"batch": strict_json(batch)},
    )


def _store_inventory(
    session: Session, device: Device, reports: list[tuple[str, InventoryReport]], now: float
) -> None:
    if not reports:
        return
    session.execute(
        core_table(InventoryRecord).insert(),
        [
            {"device_id": device.id, "item_id": i, "time": r.time, "data": r.model_dump(mode="json")}
            for i, r in reports
        ],
    )
    newest = max(reports, key=lambda pair: pair[1].time)[1]
    if device.inventory and device.inventory.get("time", float("-inf")) > newest.time:
        return
    apply_inventory(session, device, newest, now)


def apply_inventory(session: Session, device: Device, report: InventoryReport, now: float) -> None:
    """Make ``report`` the device's current inventory: host fields and one row per accelerator."""
    device.inventory = report.model_dump(mode="json")
    device.hostname = report.host.hostname
    session.flush()
    upsert(
        session,
        Accelerator,
        [
            {"device_id": device.id, **a.model_dump(), "updated_at": now}  # the wire fields are the columns
            for a in report.accelerators
        ],
        ["device_id", "uuid"],
    )
    current = {a.uuid for a in report.accelerators}
    for acc in session.scalars(select(Accelerator).where(Accelerator.device_id == device.id)):
        if acc.uuid not in current:
            session.delete(acc)


def _store_health(
    session: Session,
    device: Device,
    events: list[tuple[str, HealthEvent]],
    now: float,
    webhooks: Sequence[str],
) -> None:
    if not events:
        return
    session.execute(
        core_table(HealthRecord).insert(),
        [
            {
                "device_id": device.id,
                "item_id": i,
                "time": e.time,
                "component": e.component,
                "state": e.state,
                "reason": e.reason,
                "suggested_action": e.suggested_action,
                "device_uuid": e.device_uuid,
            }
            for i, e in events
        ],
    )
    health_rollup.apply_events(session, device, [e for _, e in events], now, webhooks)


def _store_records(
    db: Database,
    session: Session,
    device: Device,
    records: list[tuple[str, dict[str, Any]]],
    result: IngestResult,
    now: float,
    check_record: RecordCheck,
    window: TimeWindow,
) -> None:
    rows = []
    for item_id, payload in records:
        try:
            checked = check_record(session, device.id, payload)
        except ValueError as exc:
            result.rejected.append({"id": item_id, "error": f"probe_record: {exc}"})
            continue
        problem = window.problem(checked.time)  # ahead, it would count in every round until then
        if problem:
            result.rejected.append({"id": item_id, "error": f"probe_record: {problem}"})
            continue
        rows.append(
            {
                "device_id": device.id,
                "item_id": item_id,
                "landmark_id": checked.landmark_id,
                "time": checked.time,
                "rtt_ms": checked.rtt_ms,
                "record": checked.record,
            }
        )
        audit.append(
            db,
            session,
            actor=f"device:{device.id}",
            action="measurement.accepted",
            subject=f"{device.id}/{item_id}"[:200],
            details={
                "landmark_id": checked.landmark_id,
                "rtt_ms": checked.rtt_ms,
                "time": checked.time,
                "signature": checked.record.get("signature"),
            },
            now=now,
        )
    if not rows:
        return
    session.execute(core_table(Measurement).insert(), rows)
    result.by_kind["probe_record"] = len(rows)
    upsert(session, VerdictQueue, [{"device_id": device.id, "due_at": now}], ["device_id"])
