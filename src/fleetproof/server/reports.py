"""Inventory and compliance reports per zone, as JSON or CSV (API and CLI share this)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from sqlalchemy import select

from fleetproof.server.evidence import bundle_api_path, bundle_cli_command
from fleetproof.server.store.db import Database
from fleetproof.server.store.models import Accelerator, Device, Zone

__all__ = ["COLUMNS", "build", "to_csv", "to_json"]

ReportKind = Literal["inventory", "compliance"]

COLUMNS: dict[str, list[str]] = {
    "inventory": [
        "zone",
        "device_id",
        "hostname",
        "os",
        "kernel",
        "accelerator_index",
        "accelerator_uuid",
        "vendor",
        "model",
        "serial",
        "driver_version",
        "firmware_version",
        "memory_total_bytes",
        "health",
        "last_seen",
    ],
    "compliance": [
        "zone",
        "device_id",
        "hostname",
        "verdict",
        "suspicious",
        "compliant",
        "allowed_countries",
        "estimated_country",
        "estimated_country_p",
        "estimate_lat",
        "estimate_lon",
        "estimate_radius_km",
        "relocated",
        "peer_inconsistent",
        "verdict_time",
        "last_seen",
        "evidence_command",
        "evidence_api_path",
    ],
}


def _compliant(verdict: str | None, suspicious: bool, relocated: bool) -> bool | None:
    """True only for a sound verdict without suspicion; None while no verdict exists."""
    if verdict is None:
        return None
    return verdict in {"proven", "consistent"} and not suspicious and not relocated


def build(db: Database, kind: ReportKind, *, zone: str | None = None) -> list[dict[str, Any]]:
    with db.read() as session:
        query = select(Device).order_by(Device.zone_id, Device.id)
        if zone:
            query = query.where(Device.zone_id == zone)
        devices = list(session.scalars(query))
        if kind == "inventory":
            accs: dict[str, list[Accelerator]] = {}
            acc_query = select(Accelerator).order_by(Accelerator.device_id, Accelerator.index)
            for acc in session.scalars(acc_query):
                accs.setdefault(acc.device_id, []).append(acc)
            return [row for d in devices for row in _inventory_rows(d, accs.get(d.id, []))]
        zones = {z.id: z for z in session.scalars(select(Zone))}
        return [_compliance_row(d, zones.get(d.zone_id)) for d in devices]


def _inventory_rows(d: Device, accs: list[Accelerator]) -> list[dict[str, Any]]:
    host = (d.inventory or {}).get("host", {})
    base = {
        "zone": d.zone_id,
        "device_id": d.id,
        "hostname": d.hostname,
        "os": host.get("os"),
        "kernel": host.get("kernel"),
        "last_seen": d.last_seen,
    }
    if not accs:
        return [{**base, "health": d.health}]
    return [
        {
            **base,
            "accelerator_index": a.index,
            "accelerator_uuid": a.uuid,
            "vendor": a.vendor,
            "model": a.model,
            "serial": a.serial,
            "driver_version": a.driver_version,
            "firmware_version": a.firmware_version,
            "memory_total_bytes": a.memory_total_bytes,
            "health": a.health,
        }
        for a in accs
    ]


def _compliance_row(d: Device, zone: Zone | None) -> dict[str, Any]:
    est = d.estimate or {}
    return {
        "zone": d.zone_id,
        "device_id": d.id,
        "hostname": d.hostname,
        "verdict": d.verdict,
        "suspicious": bool(d.suspicious),
        "compliant": _compliant(d.verdict, bool(d.suspicious), bool(d.relocated)),
        "allowed_countries": " ".join(zone.allowed_countries or []) if zone else "",
        "estimated_country": est.get("country"),
        "estimated_country_p": est.get("country_p"),
        "estimate_lat": est.get("lat"),
        "estimate_lon": est.get("lon"),
        "estimate_radius_km": est.get("radius_km"),
        "relocated": bool(d.relocated),
        "peer_inconsistent": bool(d.peer_inconsistent),
        "verdict_time": d.verdict_time,
        "last_seen": d.last_seen,
        # Where a third party gets what the verdict rests on, to check it with `fleetproof evidence verify`.
        "evidence_command": bundle_cli_command(d.id),
        "evidence_api_path": bundle_api_path(d.id),
    }


def to_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=1, sort_keys=True)


# A spreadsheet reads a cell that starts with one of these as a formula (or, for tab and
# carriage return, strips them and then does).
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell: text a spreadsheet would run as a formula gets a leading apostrophe.

    Host names, OS strings and serial numbers come from agents, so an export opened in a
    spreadsheet must not execute them. Numbers are left alone (a longitude may be negative).
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_LEADS):
        return "'" + value
    return value


def to_csv(rows: list[dict[str, Any]], kind: ReportKind) -> str:
    """CSV with RFC 4180 line ends, so that a carriage return inside a value is quoted too."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS[kind], extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()
