"""A host's health from its components' events: current state per component, roll-up, alerts.

Ingest stores every health event as history; this module keeps the *current* state per
(component, accelerator) — the newest event wins, so a late re-delivery of an old event
changes nothing — and rolls it up: an accelerator takes the worst state of its components,
the host the worst of all (``initializing`` until anything is known), in the order of
:mod:`fleetproof.protocol.health`, the same the agent uses. An accelerator that turns
unhealthy opens an ``accelerator_unhealthy`` alert, which closes once it recovers.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetproof.protocol.health import severity
from fleetproof.protocol.health import worst as worst_state
from fleetproof.protocol.wire import HealthEvent
from fleetproof.server.alerts import raise_alert, resolve_alert
from fleetproof.server.store.models import Accelerator, Device, HealthCurrent

__all__ = ["apply_events", "roll_up"]


def apply_events(
    session: Session, device: Device, events: Sequence[HealthEvent], now: float, webhooks: Sequence[str]
) -> None:
    """Make the newest of ``events`` per (component, accelerator) current, then :func:`roll_up`."""
    current = {
        (h.component, h.subject): h
        for h in session.scalars(select(HealthCurrent).where(HealthCurrent.device_id == device.id))
    }
    for e in sorted(events, key=lambda e: e.time):
        key = (e.component, e.device_uuid or "")
        row = current.get(key)
        if row is not None and row.time > e.time:
            continue
        if row is None:
            row = HealthCurrent(device_id=device.id, component=e.component, subject=key[1])
            session.add(row)
            current[key] = row
        row.time, row.state, row.reason, row.suggested_action = e.time, e.state, e.reason, e.suggested_action
    roll_up(session, device, list(current.values()), now, webhooks)


def roll_up(
    session: Session, device: Device, rows: list[HealthCurrent], now: float, webhooks: Sequence[str]
) -> None:
    """Roll component states up to accelerators and the host, and open or close alerts."""
    worst_by_uuid: dict[str, HealthCurrent] = {}
    for row in rows:
        prev = worst_by_uuid.get(row.subject)
        if prev is None or severity(row.state) > severity(prev.state):
            worst_by_uuid[row.subject] = row
    device.health = worst_state((r.state for r in rows), default="initializing")
    for acc in session.scalars(select(Accelerator).where(Accelerator.device_id == device.id)):
        worst = worst_by_uuid.get(acc.uuid)
        acc.health = worst.state if worst else "healthy"
    for subject, worst in worst_by_uuid.items():
        if not subject:
            continue
        alert_subject = f"{device.id}/{subject}"
        if worst.state == "unhealthy":
            raise_alert(
                session,
                kind="accelerator_unhealthy",
                subject=alert_subject,
                device_id=device.id,
                severity="critical",
                message=f"{device.hostname}: accelerator {subject} unhealthy "
                f"({worst.component}): {worst.reason}",
                details={"component": worst.component, "suggested_action": worst.suggested_action},
                now=now,
                webhooks=webhooks,
            )
        else:
            resolve_alert(
                session, kind="accelerator_unhealthy", subject=alert_subject, now=now, webhooks=webhooks
            )
