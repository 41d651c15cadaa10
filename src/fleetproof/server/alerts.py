"""Alerts: raised while a condition lasts, de-duplicated, and delivered to webhooks.

An open alert holds ``open_key = kind:subject``, which is unique in the store, so a
condition seen again (by any server process) only bumps ``last_seen_at``. Resolving
clears the key. Every open and close queues one delivery per configured webhook;
:func:`deliver_due` posts them with exponential backoff and gives up after a number
of attempts, leaving the error on the delivery row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetproof.server.store.db import Database, rowcount
from fleetproof.server.store.models import Alert, AlertDelivery

__all__ = ["ALERT_KINDS", "alert_dict", "deliver_due", "list_alerts", "raise_alert", "resolve_alert"]

AlertKind = Literal[
    "location_violation",
    "suspicious_location",
    "relocation",
    "peer_inconsistency",
    "accelerator_unhealthy",
    "host_silent",
    "landmark_quarantined",
]
ALERT_KINDS: tuple[str, ...] = AlertKind.__args__  # type: ignore[attr-defined]

# A webhook poster: (url, json body) -> None, raising on failure. Injected so tests need no network.
Poster = Callable[[str, dict[str, Any]], None]


def raise_alert(
    session: Session,
    *,
    kind: str,
    subject: str,
    message: str,
    now: float,
    severity: str = "warning",
    device_id: str | None = None,
    landmark_id: str | None = None,
    details: dict[str, Any] | None = None,
    webhooks: Sequence[str] = (),
) -> tuple[Alert, bool]:
    """Open an alert, or bump the open one; return (alert, newly_opened)."""
    key = f"{kind}:{subject}"[:200]
    existing = session.scalar(select(Alert).where(Alert.open_key == key))
    if existing is not None:
        existing.last_seen_at = now
        existing.message = message
        if details is not None:
            existing.details = details
        return existing, False
    alert = Alert(
        kind=kind,
        subject=subject[:128],
        open_key=key,
        device_id=device_id,
        landmark_id=landmark_id,
        severity=severity,
        message=message,
        details=details or {},
        opened_at=now,
        last_seen_at=now,
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:  # another process opened it first
        other = session.scalar(select(Alert).where(Alert.open_key == key))
        if other is None:
            raise
        other.last_seen_at = now
        return other, False
    _queue(session, alert, "opened", webhooks, now)
    return alert, True


def resolve_alert(
    session: Session, *, kind: str, subject: str, now: float, webhooks: Sequence[str] = ()
) -> bool:
    """Close the open alert for this condition, if any; return whether one was closed."""
    alert = session.scalar(select(Alert).where(Alert.open_key == f"{kind}:{subject}"[:200]))
    if alert is None:
        return False
    alert.open_key = None
    alert.closed_at = now
    _queue(session, alert, "resolved", webhooks, now)
    return True


def _queue(session: Session, alert: Alert, event: str, webhooks: Sequence[str], now: float) -> None:
    for url in webhooks:
        session.add(AlertDelivery(alert_id=alert.id, event=event, url=url, attempts=0, next_attempt_at=now))


def alert_dict(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "subject": a.subject,
        "device_id": a.device_id,
        "landmark_id": a.landmark_id,
        "severity": a.severity,
        "message": a.message,
        "details": a.details,
        "opened_at": a.opened_at,
        "last_seen_at": a.last_seen_at,
        "closed_at": a.closed_at,
        "open": a.closed_at is None,
    }


def list_alerts(
    session: Session, *, open_only: bool, offset: int, limit: int, device_id: str | None = None
) -> tuple[int, list[dict[str, Any]]]:
    query = select(Alert)
    if open_only:
        query = query.where(Alert.closed_at.is_(None))
    if device_id:
        query = query.where(Alert.device_id == device_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Alert.id.desc()).offset(offset).limit(limit))
    return total, [alert_dict(a) for a in rows]


def backoff_s(attempts: int, *, base_s: float = 5.0, cap_s: float = 3600.0) -> float:
    """Delay before the next try after ``attempts`` failures: 5 s, 10 s, 20 s, … capped at an hour."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))


def deliver_due(db: Database, post: Poster, *, now: float, max_attempts: int = 10, batch: int = 50) -> int:
    """Post every due delivery once; return how many succeeded. Safe with several processes."""
    with db.read() as session:
        due = list(
            session.scalars(
                select(AlertDelivery.id)
                .where(AlertDelivery.delivered_at.is_(None), AlertDelivery.gave_up.is_(False))
                .where(AlertDelivery.next_attempt_at <= now)
                .order_by(AlertDelivery.next_attempt_at)
                .limit(batch)
            )
        )
    delivered = 0
    for delivery_id in due:
        with db.write() as session:  # claim: only one process posts a given delivery at a time
            claimed = rowcount(
                session.execute(
                    update(AlertDelivery)
                    .where(AlertDelivery.id == delivery_id, AlertDelivery.delivered_at.is_(None))
                    .where(or_(AlertDelivery.claimed_at.is_(None), AlertDelivery.claimed_at < now - 300))
                    .values(claimed_at=now)
                )
            )
            if not claimed:
                continue
            d = session.get(AlertDelivery, delivery_id)
            alert = session.get(Alert, d.alert_id) if d else None
            if d is None or alert is None:
                continue
            url, body = d.url, {"event": d.event, "alert": alert_dict(alert)}
        error: str | None = None
        try:
            post(url, body)
        except Exception as exc:  # any failure of the receiver is retried
            error = f"{type(exc).__name__}: {exc}"[:1000]
        with db.write() as session:
            d = session.get(AlertDelivery, delivery_id)
            assert d is not None
            d.claimed_at = None
            d.attempts += 1
            if error is None:
                d.delivered_at = now
                delivered += 1
            else:
                d.last_error = error
                d.gave_up = d.attempts >= max_attempts
                d.next_attempt_at = now + backoff_s(d.attempts)
    return delivered


def httpx_poster(timeout_s: float = 10.0) -> Poster:
    import httpx

    def post(url: str, body: dict[str, Any]) -> None:
        httpx.post(url, json=body, timeout=timeout_s).raise_for_status()

    return post
