"""Admin routes: devices, zones, enrollment tokens, landmarks, alerts, audit log, reports.

Every route needs the admin bearer token, or the dashboard's cookie for a read (checked by
the gate in :mod:`.app` and again here as a dependency, which also documents it in the
OpenAPI document; both through :mod:`.admin_auth`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from fleetproof.server import admin, audit, reports
from fleetproof.server.admin_auth import require_admin
from fleetproof.server.alerts import list_alerts, resolve_alert
from fleetproof.server.context import ServerContext
from fleetproof.server.queries import device_detail, list_devices, verdict_dict
from fleetproof.server.store.models import Alert, Verdict

__all__ = ["make_admin_router"]

Offset = Annotated[int, Query(ge=0, le=10**9)]
TimeParam = Annotated[float | None, Query(ge=0, le=1e11, description="Unix seconds")]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone: str = Field(max_length=64)
    ttl_s: float = Field(default=86400.0, gt=0, le=366 * 86400)
    device_id: str | None = Field(
        default=None, max_length=64, description="the id the enrolling device gets (default: made up)"
    )


class MeshIn(BaseModel):
    """Landmark-to-landmark round-trip times, as measured by the landmark mesh."""

    model_config = ConfigDict(extra="forbid")

    class Pair(BaseModel):
        model_config = ConfigDict(extra="forbid")
        source_id: str = Field(max_length=64)
        target_id: str = Field(max_length=64)
        rtt_ms: float = Field(gt=0, le=10_000)
        time: float = Field(ge=0, le=1e11)

    measurements: list[Pair] = Field(default_factory=list, max_length=100_000)
    records: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=100_000,
        description="landmark-signed mesh records (`fleetproof mesh probe`): checked, kept for evidence",
    )


def make_admin_router(ctx: ServerContext) -> APIRouter:
    """The admin routes, closed over ``ctx`` (one function holds them all, as FastAPI routers do)."""

    check_admin = require_admin(lambda: ctx.settings.admin_token)
    router = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[Depends(check_admin)])
    actor = "admin:api"

    @router.get("/devices")
    def devices(
        zone: str | None = None,
        verdict: str | None = None,
        health: str | None = None,
        q: Annotated[str | None, Query(max_length=100)] = None,
        offset: Offset = 0,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> list[dict[str, Any]]:
        """Hosts with their zone, latest verdict, estimate and health (paged with offset/limit)."""
        with ctx.db.read() as session:
            _total, items = list_devices(
                session, offset=offset, limit=limit, zone=zone, verdict=verdict, health=health, q=q
            )
        return items

    @router.get("/devices/{device_id}")
    def device(device_id: str) -> dict[str, Any]:
        with ctx.db.read() as session:
            detail = device_detail(session, device_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"no device {device_id!r}")
        return detail

    @router.get("/devices/{device_id}/verdicts")
    def verdicts(
        device_id: str, offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[Any]:
        with ctx.db.read() as session:
            rows = session.scalars(
                select(Verdict)
                .where(Verdict.device_id == device_id)
                .order_by(Verdict.time.desc())
                .offset(offset)
                .limit(limit)
            )
            return [verdict_dict(v, with_region=True) for v in rows]

    @router.get("/devices/{device_id}/evidence")
    def evidence(device_id: str, since: TimeParam = None, until: TimeParam = None) -> Response:
        """Everything the device's verdicts in [since, until] rest on, as one bundle that
        `fleetproof evidence verify` checks offline (signed records, landmark statements, mesh,
        zone, engine settings, verdicts)."""
        from fleetproof.server.evidence import UnknownDevice, export_bundle

        try:
            bundle = export_bundle(ctx.db, device_id, since=since, until=until, now=ctx.clock())
        except UnknownDevice as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        name = re.sub(r"[^A-Za-z0-9._-]", "_", device_id)[:64]
        return JSONResponse(
            bundle, headers={"content-disposition": f'attachment; filename="{name}.evidence.json"'}
        )

    @router.delete("/devices/{device_id}")
    def revoke(device_id: str) -> dict[str, Any]:
        """Revoke a device's key; its history is kept."""
        if not admin.remove_device(ctx.db, device_id, actor=actor, now=ctx.clock()):
            raise HTTPException(status_code=404, detail=f"no device {device_id!r}")
        return {"revoked": device_id}

    @router.post("/devices/{device_id}/rebaseline")
    def rebaseline(device_id: str) -> dict[str, Any]:
        """Accept a host's current RTT fingerprint as its baseline (after an approved move)."""
        from fleetproof.server.pipeline import rebaseline as do_rebaseline

        if not do_rebaseline(ctx, device_id, actor=actor, now=ctx.clock()):
            raise HTTPException(status_code=404, detail=f"no device {device_id!r}")
        return {"rebaselined": device_id}

    @router.get("/zones")
    def zones() -> list[dict[str, Any]]:
        return admin.list_zones(ctx.db)

    @router.post("/zones", status_code=201)
    def create_zone(zone: admin.ZoneIn) -> dict[str, Any]:
        return admin.create_zone(ctx.db, zone, actor=actor, now=ctx.clock())

    @router.put("/zones/{zone_id}")
    def replace_zone(zone_id: str, zone: admin.ZoneIn) -> dict[str, Any]:
        if zone.id != zone_id:
            raise HTTPException(status_code=422, detail="zone id in the path and the body differ")
        return admin.create_zone(ctx.db, zone, actor=actor, now=ctx.clock(), replace=True)

    @router.post("/enrollment-tokens", status_code=201)
    def create_token(body: TokenIn) -> dict[str, Any]:
        """A one-time enrollment token for a zone; shown once, stored hashed."""
        return admin.create_token(
            ctx.db, body.zone, ttl_s=body.ttl_s, actor=actor, now=ctx.clock(), device_id=body.device_id
        )

    @router.get("/landmarks")
    def landmarks() -> list[dict[str, Any]]:
        return admin.list_landmarks(ctx.db)

    @router.post("/landmarks", status_code=201)
    def add_landmark(landmark: admin.LandmarkIn) -> dict[str, Any]:
        return admin.add_landmark(ctx.db, landmark, actor=actor, now=ctx.clock())

    @router.post("/landmarks/mesh")
    def mesh(body: MeshIn) -> dict[str, Any]:
        """Store mesh RTTs between landmarks and re-vet them (quarantining the inconsistent)."""
        from fleetproof.server.vetting import record_mesh

        return record_mesh(ctx, [m.model_dump() for m in body.measurements], body.records)

    @router.get("/alerts")
    def alerts(
        open_only: bool = False, offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=10_000)] = 500
    ) -> list[dict[str, Any]]:
        with ctx.db.read() as session:
            _total, items = list_alerts(session, open_only=open_only, offset=offset, limit=limit)
        return items

    @router.post("/alerts/{alert_id}/resolve")
    def resolve(alert_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
        """Close an alert by hand (it opens again if its condition is seen again)."""
        now = ctx.clock()
        with ctx.db.write() as session:
            alert = session.get(Alert, alert_id)
            if alert is None:
                raise HTTPException(status_code=404, detail=f"no alert {alert_id}")
            if alert.closed_at is None:
                resolve_alert(
                    session, kind=alert.kind, subject=alert.subject, now=now, webhooks=ctx.settings.webhooks
                )
                audit.append(
                    ctx.db,
                    session,
                    actor=actor,
                    action="alert.resolved",
                    subject=str(alert_id),
                    details={},
                    now=now,
                )
        return {"resolved": alert_id}

    @router.get("/audit")
    def audit_log(offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, Any]:
        total, entries = audit.entries_page(ctx.db, offset, limit)
        return {"total": total, "entries": entries}

    @router.get("/audit/verify")
    def audit_verify() -> dict[str, Any]:
        return audit.verify_chain(ctx.db).as_dict()

    @router.get("/reports/{kind}")
    def report(
        kind: Literal["inventory", "compliance"],
        zone: str | None = None,
        format: Literal["json", "csv"] = "json",
    ) -> Response:
        """Inventory or compliance per zone, as JSON or CSV."""
        rows = reports.build(ctx.db, kind, zone=zone)
        if format == "csv":
            return Response(reports.to_csv(rows, kind), media_type="text/csv")
        return Response(reports.to_json(rows), media_type="application/json")

    return router
