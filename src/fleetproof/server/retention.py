"""Retention: raw telemetry older than ``raw_retention_s`` is folded into per-bucket rollups.

For every host and bucket (``rollup_bucket_s`` wide) the rollup keeps, per
accelerator and metric, the minimum, mean, maximum and number of samples; then the
raw rows are deleted. Latest values live in their own table and are never touched.
It runs in bounded chunks under a cross-process lock, so it never holds the store
for long and two server processes never fold the same rows twice.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import delete, select

from fleetproof.server.context import ServerContext
from fleetproof.server.store.db import LOCK_RETENTION
from fleetproof.server.store.models import TelemetryRecord, TelemetryRollup

__all__ = ["downsample", "fold"]


def fold(rollup: dict[str, Any], data: dict[str, Any]) -> None:
    """Add one raw report's values into a rollup document (in place)."""
    for acc in data.get("accelerators", []):
        _fold_metrics(rollup.setdefault(str(acc.get("uuid")), {}), acc.get("metrics", {}))
    _fold_metrics(rollup.setdefault("host", {}), data.get("host_metrics", {}))


def _fold_metrics(target: dict[str, Any], metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        cur = target.get(name)
        if cur is None:
            target[name] = {"min": value, "max": value, "sum": value, "count": 1}
        else:
            cur["min"], cur["max"] = min(cur["min"], value), max(cur["max"], value)
            cur["sum"] += value
            cur["count"] += 1


def downsample(ctx: ServerContext, *, now: float, chunk: int = 5000) -> int:
    """Fold and delete raw rows older than the retention period; return how many were folded."""
    cutoff = now - ctx.settings.raw_retention_s
    bucket_s = ctx.settings.rollup_bucket_s
    folded = 0
    while True:
        with ctx.db.write() as session:
            ctx.db.serialize(session, LOCK_RETENTION)
            rows = list(
                session.execute(
                    select(
                        TelemetryRecord.id,
                        TelemetryRecord.device_id,
                        TelemetryRecord.time,
                        TelemetryRecord.data,
                    )
                    .where(TelemetryRecord.time < cutoff)
                    .order_by(TelemetryRecord.id)
                    .limit(chunk)
                )
            )
            if not rows:
                return folded
            groups: dict[tuple[str, float], dict[str, Any]] = {}
            for _id, device_id, t, data in rows:
                start = t - (t % bucket_s)
                fold(groups.setdefault((device_id, start), {}), data)
            for (device_id, start), doc in groups.items():
                existing = session.get(TelemetryRollup, (device_id, start))
                if existing is None:
                    session.add(
                        TelemetryRollup(device_id=device_id, bucket_start=start, bucket_s=bucket_s, data=doc)
                    )
                else:
                    merged = copy.deepcopy(existing.data)  # a new value, so the change is seen
                    _merge(merged, doc)
                    existing.data = merged
            session.execute(delete(TelemetryRecord).where(TelemetryRecord.id.in_([r[0] for r in rows])))
            folded += len(rows)


def _merge(into: dict[str, Any], doc: dict[str, Any]) -> None:
    for subject, metrics in doc.items():
        target = into.setdefault(subject, {})
        for name, agg in metrics.items():
            cur = target.get(name)
            if cur is None:
                target[name] = dict(agg)
            else:
                target[name] = {
                    "min": min(cur["min"], agg["min"]),
                    "max": max(cur["max"], agg["max"]),
                    "sum": cur["sum"] + agg["sum"],
                    "count": cur["count"] + agg["count"],
                }
