"""Read-side views of the store shared by the admin API, reports and the dashboard source."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fleetproof.protocol.wire import AcceleratorInventory
from fleetproof.server.admin import zone_dict
from fleetproof.server.store.models import (
    Accelerator,
    Device,
    HealthCurrent,
    LatestMetrics,
    Verdict,
    Zone,
)

__all__ = ["device_detail", "device_item", "device_query", "verdict_dict"]


def device_item(d: Device, accelerator_count: int | None = None) -> dict[str, Any]:
    """The list form of a host (the API contract: id, zone, verdict, suspicious, estimate, health)."""
    item = {
        "id": d.id,
        "zone": d.zone_id,
        "hostname": d.hostname,
        "verdict": d.verdict,
        "suspicious": bool(d.suspicious),
        "estimate": d.estimate,
        "health": d.health,
        "last_seen": d.last_seen,
        "verdict_time": d.verdict_time,
        "relocated": bool(d.relocated),
        "peer_inconsistent": bool(d.peer_inconsistent),
    }
    if accelerator_count is not None:
        item["accelerator_count"] = accelerator_count
    return item


def device_query(
    *, verdict: str | None = None, zone: str | None = None, health: str | None = None, q: str | None = None
) -> Any:
    query = select(Device)
    if verdict:
        query = query.where(Device.verdict.is_(None) if verdict == "none" else Device.verdict == verdict)
    if zone:
        query = query.where(Device.zone_id == zone)
    if health:
        query = query.where(Device.health == health)
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        query = query.where(or_(Device.hostname.ilike(like), Device.id.ilike(like)))
    return query


def list_devices(
    session: Session, *, offset: int = 0, limit: int = 10000, **filters: Any
) -> tuple[int, list[dict[str, Any]]]:
    query = device_query(**filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(Device.id).offset(offset).limit(limit)
    devices = list(session.scalars(page))
    page_ids = page.with_only_columns(Device.id).subquery()
    counts: dict[str, int] = {
        device_id: int(n)
        for device_id, n in session.execute(
            select(Accelerator.device_id, func.count())
            .where(Accelerator.device_id.in_(select(page_ids.c.id)))
            .group_by(Accelerator.device_id)
        )
    }
    return total, [device_item(d, counts.get(d.id, 0)) for d in devices]


def verdict_dict(v: Verdict, *, with_region: bool = False) -> dict[str, Any]:
    """One round of a host's history. The row keeps the engine's own ``suspicious`` flag (evidence
    bundles re-judge and compare it); a ``proven`` round is never shown as suspicious, since added
    delay cannot fake a proof (:mod:`fleetproof.server.persistence`)."""
    out = {
        "time": v.time,
        "verdict": v.verdict,
        "suspicious": bool(v.suspicious) and v.verdict != "proven",
        "estimate": v.estimate,
        "evidence": v.evidence,
        "relocated": v.relocated,
        "peer_inconsistent": v.peer_inconsistent,
    }
    if with_region:
        out["region"] = v.region
    return out


def key_attestation(evidence: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a person needs of the device key's stored attestation: whose evidence, and whether
    hardware vouches for it (the full evidence travels in the device's evidence bundle)."""
    if not evidence:
        return None
    return {
        "attestor": str(evidence.get("attestor", "")),
        "hardware_bound": bool(evidence.get("hardware_bound")),
    }


def device_detail(session: Session, device_id: str, *, history: int = 50) -> dict[str, Any] | None:
    """Everything about one host: inventory, accelerators, health, verdict history, region, zone."""
    d = session.get(Device, device_id)
    if d is None:
        return None
    accelerators = list(
        session.scalars(select(Accelerator).where(Accelerator.device_id == d.id).order_by(Accelerator.index))
    )
    latest = {
        m.uuid: m for m in session.scalars(select(LatestMetrics).where(LatestMetrics.device_id == d.id))
    }
    health = list(
        session.scalars(
            select(HealthCurrent).where(HealthCurrent.device_id == d.id).order_by(HealthCurrent.component)
        )
    )
    verdicts = list(
        session.scalars(
            select(Verdict).where(Verdict.device_id == d.id).order_by(Verdict.time.desc()).limit(history)
        )
    )
    zone = session.get(Zone, d.zone_id)
    out = device_item(d, len(accelerators))
    out.update(
        {
            "enrolled_at": d.enrolled_at,
            "public_key": d.public_key,
            "key_attestation": key_attestation(d.attestation),
            "inventory": d.inventory,
            "accelerators": [
                {
                    **{name: getattr(a, name) for name in AcceleratorInventory.model_fields},
                    "health": a.health,
                    "metrics": latest[a.uuid].metrics if a.uuid in latest else {},
                    "metrics_time": latest[a.uuid].time if a.uuid in latest else None,
                }
                for a in accelerators
            ],
            "host_metrics": latest["host"].metrics if "host" in latest else {},
            "health_components": [
                {
                    "component": h.component,
                    "accelerator_uuid": h.subject or None,
                    "state": h.state,
                    "reason": h.reason,
                    "suggested_action": h.suggested_action,
                    "time": h.time,
                }
                for h in health
            ],
            "verdicts": [verdict_dict(v) for v in verdicts],
            "region": verdicts[0].region if verdicts else None,
            "fingerprint": d.fingerprint,
            "baseline": d.baseline,
            "zone_detail": zone_dict(zone) if zone else None,
        }
    )
    return out
