"""Fleet-wide gauges for ``/metrics``, read from the store so every server process agrees."""

from __future__ import annotations

from sqlalchemy import func, select

from fleetproof.server.store.db import Database
from fleetproof.server.store.models import Alert, Device, VerdictQueue

Series = dict[tuple[tuple[str, str], ...], float]


def fleet_gauges(db: Database, now: float) -> dict[str, tuple[str, Series]]:
    with db.read() as session:
        by_verdict = session.execute(select(Device.verdict, func.count()).group_by(Device.verdict)).all()
        by_health = session.execute(select(Device.health, func.count()).group_by(Device.health)).all()
        open_alerts = session.execute(
            select(Alert.kind, func.count()).where(Alert.closed_at.is_(None)).group_by(Alert.kind)
        ).all()
        queue = session.scalar(select(func.count()).select_from(VerdictQueue)) or 0
    return {
        "fleetproof_server_hosts": (
            "Enrolled hosts by latest verdict.",
            {(("verdict", v or "none"),): float(n) for v, n in by_verdict},
        ),
        "fleetproof_server_hosts_by_health": (
            "Enrolled hosts by health.",
            {(("health", h),): float(n) for h, n in by_health},
        ),
        "fleetproof_server_open_alerts": (
            "Open alerts by kind.",
            {(("kind", k),): float(n) for k, n in open_alerts},
        ),
        "fleetproof_server_verdict_queue": ("Hosts waiting for a verdict.", {(): float(queue)}),
    }
