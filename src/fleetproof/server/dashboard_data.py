"""The dashboard's data source over the store: paged, aggregated in SQL, plain JSON-able values.

Every method does a bounded amount of work whatever the fleet size: counts are
``GROUP BY`` queries, lists are paged, map points read only the columns they need.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from fleetproof.server.admin import landmark_dict, zone_dict
from fleetproof.server.alerts import list_alerts
from fleetproof.server.queries import device_detail, list_devices
from fleetproof.server.store.db import Database
from fleetproof.server.store.models import (
    Accelerator,
    Alert,
    Device,
    Landmark,
    TelemetryRecord,
    TelemetryRollup,
)

__all__ = ["StoreDashboardSource"]


class StoreDashboardSource:
    def __init__(self, db: Database) -> None:
        self.db = db

    def summary(self) -> dict[str, Any]:
        with self.db.read() as s:

            def grouped(column: Any, model: Any = Device) -> dict[str, int]:
                rows = s.execute(select(column, func.count()).select_from(model).group_by(column))
                return {str(k) if k is not None else "none": int(n) for k, n in rows}

            return {
                "hosts": int(s.scalar(select(func.count()).select_from(Device)) or 0),
                "hosts_by_verdict": grouped(Device.verdict),
                "hosts_by_health": grouped(Device.health),
                "hosts_by_zone": grouped(Device.zone_id),
                "hosts_suspicious": int(
                    s.scalar(select(func.count()).where(Device.suspicious.is_(True))) or 0
                ),
                "accelerators": int(s.scalar(select(func.count()).select_from(Accelerator)) or 0),
                "accelerators_by_health": grouped(Accelerator.health, Accelerator),
                "accelerators_by_vendor": grouped(Accelerator.vendor, Accelerator),
                "open_alerts": int(s.scalar(select(func.count()).where(Alert.closed_at.is_(None))) or 0),
            }

    def hosts(
        self,
        offset: int,
        limit: int,
        verdict: str | None = None,
        zone: str | None = None,
        health: str | None = None,
        q: str | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        with self.db.read() as s:
            return list_devices(s, offset=offset, limit=limit, verdict=verdict, zone=zone, health=health, q=q)

    def map_points(self) -> list[dict[str, Any]]:
        with self.db.read() as s:
            rows = s.execute(
                select(Device.id, Device.estimate, Device.verdict, Device.suspicious, Device.health)
            )
            return [
                {
                    "id": i,
                    "lat": est.get("lat"),
                    "lon": est.get("lon"),
                    "verdict": v,
                    "suspicious": bool(sus),
                    "health": h,
                }
                for i, est, v, sus, h in rows
                if est and est.get("lat") is not None
            ]

    def host(self, host_id: str) -> dict[str, Any] | None:
        with self.db.read() as s:
            return device_detail(s, host_id)

    def telemetry(self, host_id: str, metric: str, since: float) -> list[dict[str, Any]]:
        """Series of one metric per accelerator since ``since``: raw points, then rollup means before them."""
        series: dict[str, dict[str, Any]] = {}

        def add(uuid: str, index: int, t: float, value: float) -> None:
            entry = series.setdefault(uuid, {"uuid": uuid, "index": index, "points": []})
            entry["points"].append([t, value])

        with self.db.read() as s:
            for start, doc in s.execute(
                select(TelemetryRollup.bucket_start, TelemetryRollup.data)
                .where(TelemetryRollup.device_id == host_id, TelemetryRollup.bucket_start >= since)
                .order_by(TelemetryRollup.bucket_start)
            ):
                for uuid, metrics in doc.items():
                    agg = metrics.get(metric)
                    if agg and agg["count"]:
                        add(uuid, -1 if uuid == "host" else 0, start, agg["sum"] / agg["count"])
            for t, data in s.execute(
                select(TelemetryRecord.time, TelemetryRecord.data)
                .where(TelemetryRecord.device_id == host_id, TelemetryRecord.time >= since)
                .order_by(TelemetryRecord.time)
                .limit(50_000)
            ):
                for acc in data.get("accelerators", []):
                    if metric in acc.get("metrics", {}):
                        add(acc["uuid"], acc.get("index", 0), t, acc["metrics"][metric])
                if metric in data.get("host_metrics", {}):
                    add("host", -1, t, data["host_metrics"][metric])
        for entry in series.values():
            if entry["uuid"] != "host":
                entry["index"] = max(entry["index"], 0)
        return sorted(series.values(), key=lambda e: (e["index"], e["uuid"]))

    def alerts(self, open_only: bool, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        with self.db.read() as s:
            return list_alerts(s, open_only=open_only, offset=offset, limit=limit)

    def landmarks(self) -> list[dict[str, Any]]:
        with self.db.read() as s:
            return [landmark_dict(lm) for lm in s.scalars(select(Landmark).order_by(Landmark.id))]

    def zones(self) -> list[dict[str, Any]]:
        from fleetproof.server.store.models import Zone

        with self.db.read() as s:
            return [zone_dict(z) for z in s.scalars(select(Zone).order_by(Zone.id))]
