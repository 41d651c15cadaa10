"""The landmark mesh: landmark-to-landmark RTTs, per-landmark statistics, and vetting.

Landmarks measure each other; those RTTs are what lets the engine notice a landmark
that lies about where it is (it cannot be nearer to the others than light allows,
and its delays disagree with everyone else's). The vetting itself is the engine's
(behind the :class:`Vetter` seam); this module stores the mesh, keeps statistics
per landmark for the dashboard, applies the vetting result — quarantining a
landmark takes it out of every later verdict — and raises ``landmark_quarantined``.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, insert, select

from fleetproof.server import audit
from fleetproof.server.alerts import raise_alert, resolve_alert
from fleetproof.server.context import ServerContext
from fleetproof.server.store.models import Landmark, MeshMeasurement

__all__ = [
    "MESH_WINDOW_S",
    "MeshPair",
    "MeshSnapshot",
    "StoreMesh",
    "Vetter",
    "VettingResult",
    "mesh_rows_from_records",
    "record_mesh",
    "revet",
]

#: Mesh measurements younger than this take part in vetting and calibration, seconds.
MESH_WINDOW_S = 86400.0


@dataclass(frozen=True)
class MeshPair:
    source_id: str
    target_id: str
    rtt_ms: float


@dataclass(frozen=True)
class MeshSnapshot:
    """The pairs one calibration used, and ``basis``: how to find exactly those rows again.

    The basis (newest row id and the time cut) is stored with every verdict, so an evidence
    bundle can carry the mesh a verdict's delay model was fitted on.
    """

    pairs: tuple[MeshPair, ...]
    basis: dict[str, Any]


@dataclass(frozen=True)
class VettingResult:
    """Per landmark id: None when trusted, else the reason it is quarantined."""

    quarantined: dict[str, str]
    details: dict[str, Any]


class Vetter(Protocol):
    def vet(self, landmarks: Sequence[Landmark], pairs: Sequence[MeshPair]) -> VettingResult: ...


def mesh_rows_from_records(session: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mesh rows from landmark-signed mesh records; ``ConfigError`` naming the first that fails.

    A record counts only if the measured landmark's registered key signed it and the prober
    used its own registered key (:func:`fleetproof.evidence.signed.check_mesh_record`).
    """
    from pydantic import ValidationError

    from fleetproof.errors import ConfigError, first_error
    from fleetproof.evidence.signed import check_mesh_record
    from fleetproof.probe.records import MeasurementRecord, RecordError

    keys = {i: k for i, k in session.execute(select(Landmark.id, Landmark.public_key))}
    rows = []
    for n, payload in enumerate(records, start=1):
        try:
            record = MeasurementRecord.model_validate(payload)
            check_mesh_record(record, keys)
        except ValidationError as exc:
            raise ConfigError(f"mesh record {n}: {first_error(exc, 'record')}") from None
        except RecordError as exc:
            raise ConfigError(f"mesh record {n}: {exc}") from None
        rows.append(
            {
                "source_id": record.device_id,
                "target_id": record.landmark_id,
                "rtt_ms": record.rtt_ms,
                "time": record.time,
                "record": record.model_dump(mode="json"),
            }
        )
    return rows


def record_mesh(
    ctx: ServerContext, measurements: list[dict[str, Any]], records: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Store mesh RTTs (unknown landmarks refused) and signed mesh records, and re-vet; return the summary."""
    now = ctx.clock()
    with ctx.db.write() as session:
        measurements = [{"record": None, **m} for m in measurements]
        if records:
            measurements += mesh_rows_from_records(session, records)
        known = set(session.scalars(select(Landmark.id)))
        unknown = sorted({m[k] for m in measurements for k in ("source_id", "target_id")} - known)
        if unknown:
            from fleetproof.errors import ConfigError

            raise ConfigError(f"unknown landmarks: {', '.join(unknown[:10])}")
        if measurements:
            session.execute(insert(MeshMeasurement), measurements)
    return revet(ctx, now=now)


def _latest_pairs(ctx: ServerContext, now: float, until_id: int | None = None) -> list[MeshPair]:
    """Minimum RTT per ordered pair over the last day (rows up to ``until_id`` only, when given)."""
    with ctx.db.read() as session:
        query = (
            select(MeshMeasurement.source_id, MeshMeasurement.target_id, func.min(MeshMeasurement.rtt_ms))
            .where(MeshMeasurement.time >= now - MESH_WINDOW_S)
            .group_by(MeshMeasurement.source_id, MeshMeasurement.target_id)
        )
        if until_id is not None:
            query = query.where(MeshMeasurement.id <= until_id)
        return [MeshPair(s, t, float(r)) for s, t, r in session.execute(query)]


class StoreMesh:
    """The landmark mesh as the store holds it, for the engine's calibration (``engine.MeshSource``)."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def version(self) -> int:
        """The newest mesh row's id: it moves whenever a mesh measurement arrives, in any process."""
        with self.ctx.db.read() as session:
            return int(session.scalar(select(func.max(MeshMeasurement.id))) or 0)

    def snapshot(self, version: Hashable) -> MeshSnapshot:
        """The pairs of mesh version ``version``: rows up to that id, of the day before now."""
        until_id = int(version)  # type: ignore[call-overload]
        now = self.ctx.clock()
        pairs = _latest_pairs(self.ctx, now, until_id)
        return MeshSnapshot(tuple(pairs), {"mesh_version": until_id, "since": now - MESH_WINDOW_S})


def revet(ctx: ServerContext, *, now: float) -> dict[str, Any]:
    pairs = _latest_pairs(ctx, now)
    vetter: Vetter | None = getattr(ctx, "vetter", None)
    with ctx.db.write() as session:
        landmarks = list(session.scalars(select(Landmark).order_by(Landmark.id)))
        result = (
            vetter.vet(landmarks, pairs)
            if vetter is not None
            else VettingResult({}, {"vetting": "unavailable"})
        )
        by_lm: dict[str, list[float]] = {}
        for p in pairs:
            by_lm.setdefault(p.source_id, []).append(p.rtt_ms)
            by_lm.setdefault(p.target_id, []).append(p.rtt_ms)
        for lm in landmarks:
            rtts = by_lm.get(lm.id, [])
            lm.mesh = {
                "pairs": len(rtts),
                "median_rtt_ms": round(statistics.median(rtts), 3) if rtts else None,
                "vetted_at": now if vetter is not None else None,
                **result.details.get(lm.id, {}),
            }
            reason = result.quarantined.get(lm.id)
            if vetter is None:
                continue
            if reason and lm.trusted:
                lm.trusted, lm.quarantine_reason = False, reason
                raise_alert(
                    session,
                    kind="landmark_quarantined",
                    subject=lm.id,
                    landmark_id=lm.id,
                    severity="critical",
                    message=f"landmark {lm.id} quarantined: {reason}",
                    now=now,
                    webhooks=ctx.settings.webhooks,
                )
                audit.append(
                    ctx.db,
                    session,
                    actor="server:vetting",
                    action="landmark.quarantined",
                    subject=lm.id,
                    details={"reason": reason},
                    now=now,
                )
            elif not reason and not lm.trusted:
                lm.trusted, lm.quarantine_reason = True, None
                resolve_alert(
                    session,
                    kind="landmark_quarantined",
                    subject=lm.id,
                    now=now,
                    webhooks=ctx.settings.webhooks,
                )
                audit.append(
                    ctx.db,
                    session,
                    actor="server:vetting",
                    action="landmark.trusted",
                    subject=lm.id,
                    details={},
                    now=now,
                )
        return {
            "pairs": len(pairs),
            "quarantined": sorted(lm.id for lm in landmarks if not lm.trusted),
            "vetting": "done" if vetter is not None else "unavailable",
        }
