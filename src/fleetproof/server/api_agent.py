"""Routes agents call: enrollment (one-time token), signed ingest, and the landmark list.

Agent bodies are read raw, because the signature covers the exact bytes, and parsed
with the pydantic models only once the signature has verified
(:mod:`fleetproof.server.agent_auth`); their schemas are still published in the
OpenAPI document. Enrollment checks its one-time token before it reads the body.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import StatementError
from starlette.concurrency import run_in_threadpool

from fleetproof.probe.attest.base import Evidence
from fleetproof.probe.attest.check import binding_problem, consistency_problems
from fleetproof.protocol.enroll import AttestationBody, hash_token
from fleetproof.protocol.items import IngestBatch, parse_batch
from fleetproof.protocol.reqsign import public_key_from_b64, public_key_to_b64
from fleetproof.protocol.wire import InventoryReport
from fleetproof.server import audit
from fleetproof.server.admin import landmark_dict, latest_statements
from fleetproof.server.agent_auth import Authenticated, authenticate, consume_nonce
from fleetproof.server.context import ServerContext
from fleetproof.server.ingest import apply_inventory, ingest_items, out_of_column_range
from fleetproof.server.store.db import NonFiniteNumber, first_start, rowcount
from fleetproof.server.store.models import Device, EnrollmentToken, Landmark, RequestNonce

__all__ = ["EnrollRequest", "make_agent_router"]


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(max_length=128, description="raw Ed25519 public key, base64")
    inventory: InventoryReport
    attestation: AttestationBody | None = Field(
        default=None,
        description="evidence binding public_key, over binding_nonce(public key, SHA-256 of the "
        "enrollment token); absent from agents that attest nothing",
    )


class EnrollResponse(BaseModel):
    device_id: str
    zone: str
    server_time: float


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[dict[str, str]]


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "x-fleetproof-defs": defs,
    }


def _finite(value: Any) -> bool:
    """JSON from Python may carry NaN or Infinity, which PostgreSQL's json type refuses."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, str):
        return "\x00" not in value
    return True


def _payload_time(payload: Any) -> Any:
    return payload.get("time", 0.0) if isinstance(payload, dict) else getattr(payload, "time", 0.0)


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)[:20]
    ]


def _finite_scalar(*values: Any) -> bool:
    return all(not isinstance(v, float) or math.isfinite(v) for v in values)


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        parsed = model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)[:20]
        ]
        raise HTTPException(status_code=422, detail=errors) from None
    return parsed


def _attestation(req: EnrollRequest, token_hash: str) -> dict[str, Any] | None:
    """The evidence to keep with the device, with its challenge; 422 unless bound to this key and token.

    The challenge is the token's SHA-256, which the server already holds: the binding nonce is
    recomputed from the public key in the body, so evidence made for another key or another
    enrollment is refused, as is evidence a built-in attestor would never produce.
    """
    if req.attestation is None:
        return None
    body = req.attestation.model_dump(mode="json")
    if not _finite(body):
        raise HTTPException(
            status_code=422, detail="attestation holds a non-finite number or a NUL character"
        )
    evidence = Evidence(**body)
    public_key = public_key_from_b64(req.public_key).public_bytes_raw()
    problem = binding_problem(evidence, public_key, bytes.fromhex(token_hash))
    if problem is not None:
        raise HTTPException(
            status_code=422,
            detail=f"attestation: nonce_hex must be binding_nonce(public key, SHA-256 of the enrollment "
            f"token), but {problem}",
        )
    inconsistent = consistency_problems(evidence)
    if inconsistent:
        raise HTTPException(status_code=422, detail=f"attestation: {inconsistent[0]}")
    return {**body, "challenge_hex": token_hash}


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status_code=413, detail=f"body larger than {limit} bytes")
    return bytes(body)


def make_agent_router(ctx: ServerContext) -> APIRouter:
    """The agent routes, closed over ``ctx`` (one function holds them all, as FastAPI routers do)."""
    router = APIRouter(prefix="/api/v1", tags=["agent"])

    def _ingest(auth: Authenticated, items: list[Any], now: float) -> Any:
        with ctx.db.write() as session:
            consume_nonce(session, auth)
            device = session.get(Device, auth.device_id)
            if device is None:
                raise HTTPException(status_code=401, detail="unknown device")
            return ingest_items(
                ctx.db,
                session,
                device,
                items,
                now=now,
                check_record=ctx.check_record,
                webhooks=ctx.settings.webhooks,
                max_ahead_s=ctx.settings.replay_window_s,
                oldest_ok=_oldest_ok(session, now),
            )

    def _oldest_ok(session: Any, now: float) -> float:
        """Older than raw retention, or than the store's first start (less the clock slack), is refused."""
        started = ctx.cache.get("first_start")
        if started is None:
            started = first_start(session)
            if started is not None:
                ctx.cache["first_start"] = started
        floor = now - ctx.settings.raw_retention_s
        return floor if started is None else max(floor, started - ctx.settings.replay_window_s)

    def _spend_nonce(auth: Authenticated) -> None:
        with ctx.db.write() as session:
            consume_nonce(session, auth)

    @router.post("/enroll", response_model=EnrollResponse, openapi_extra=_body_schema(EnrollRequest))
    async def enroll(request: Request) -> EnrollResponse:
        """Register a device key with a one-time enrollment token (``Authorization: Bearer <token>``)."""
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() != "bearer " or not auth[7:].strip():
            raise HTTPException(status_code=401, detail="enrollment token required")
        token_hash = hash_token(auth[7:].strip())

        def lookup() -> EnrollmentToken | None:
            with ctx.db.read() as session:
                return session.get(EnrollmentToken, token_hash)

        token = await run_in_threadpool(lookup)
        now = ctx.clock()
        if token is None or token.used_at is not None or token.expires_at < now:
            raise HTTPException(status_code=403, detail="enrollment token unknown, used or expired")
        body = await _read_body(request, ctx.settings.max_body_bytes)
        req = _parse(EnrollRequest, body)
        try:
            # Stored in one spelling, so that "already enrolled" sees the same key however it was written.
            public_key = public_key_to_b64(public_key_from_b64(req.public_key))
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=f"public_key: {exc}") from None
        if not _finite(req.inventory.model_dump()):
            raise HTTPException(
                status_code=422, detail="inventory holds a non-finite number or a NUL character"
            )
        too_big = out_of_column_range(req.inventory)
        if too_big:
            raise HTTPException(status_code=422, detail=f"inventory: {too_big}")
        if req.inventory.time > now + ctx.settings.replay_window_s:  # it would hide every later inventory
            raise HTTPException(status_code=422, detail="inventory time is ahead of the server's clock")
        attestation = _attestation(req, token_hash)
        device_id = token.device_id or "dev-" + secrets.token_hex(8)
        with ctx.db.write() as session:
            claimed = rowcount(
                session.execute(
                    update(EnrollmentToken)
                    .where(EnrollmentToken.token_hash == token_hash, EnrollmentToken.used_at.is_(None))
                    .values(used_at=now, device_id=device_id)
                )
            )
            if not claimed:
                raise HTTPException(status_code=403, detail="enrollment token already used")
            if session.scalar(select(Device.id).where(Device.public_key == public_key)) is not None:
                raise HTTPException(status_code=409, detail="this public key is already enrolled")
            if session.get(Device, device_id) is not None:
                raise HTTPException(status_code=409, detail=f"a device {device_id!r} is already enrolled")
            device = Device(
                id=device_id,
                zone_id=token.zone_id,
                public_key=public_key,
                hostname=req.inventory.host.hostname,
                enrolled_at=now,
                last_seen=now,
                inventory=req.inventory.model_dump(mode="json"),
                health="initializing",
                suspicious=False,
                relocated=False,
                peer_inconsistent=False,
                attestation=attestation,
            )
            session.add(device)
            apply_inventory(session, device, req.inventory, now)
            audit.append(
                ctx.db,
                session,
                actor=f"token:{token_hash[:12]}",
                action="device.enrolled",
                subject=device_id,
                details={
                    "zone": token.zone_id,
                    "public_key": public_key,
                    "hostname": req.inventory.host.hostname,
                    # Only what an auditor reads at a glance; the evidence itself is with the device.
                    "attestor": req.attestation.attestor if req.attestation else None,
                    "hardware_bound": req.attestation.hardware_bound if req.attestation else False,
                },
                now=now,
            )
        return EnrollResponse(device_id=device_id, zone=token.zone_id, server_time=now)

    @router.post("/ingest", response_model=IngestResponse, openapi_extra=_body_schema(IngestBatch))
    async def ingest(request: Request) -> IngestResponse:
        """Store a batch of outbox items; duplicates (by item id) are counted and ignored."""
        auth = await authenticate(ctx, request, ctx.settings.max_body_bytes)
        try:
            items = parse_batch(auth.body)
        except ValidationError as exc:
            raise HTTPException(status_code=422, detail=_errors(exc)) from None
        limit = ctx.settings.max_items_per_request
        if len(items) > limit:
            raise HTTPException(status_code=413, detail=f"more than {limit} items")
        bad = [i.id for i in items if not _finite_scalar(i.created_at, _payload_time(i.payload))]
        if bad:
            raise HTTPException(status_code=422, detail=f"items with a non-finite time: {bad[:5]}")
        try:
            # Off the event loop: while one request waits on the store, others are parsed and checked.
            result = await run_in_threadpool(_ingest, auth, items, ctx.clock())
        except (StatementError, NonFiniteNumber) as exc:
            # NaN or Infinity in a payload, refused by the store's JSON encoder (wrapped or not, by driver).
            if isinstance(exc, NonFiniteNumber) or isinstance(exc.orig, NonFiniteNumber):
                raise HTTPException(status_code=422, detail="a payload holds NaN or Infinity") from None
            raise
        count = ctx.metrics.inc
        for kind, n in result.by_kind.items():
            count("fleetproof_server_ingest_items_total", n, kind=kind, outcome="accepted")
        if result.duplicates:
            count("fleetproof_server_ingest_items_total", result.duplicates, kind="any", outcome="duplicate")
        if result.rejected:
            count(
                "fleetproof_server_ingest_items_total", len(result.rejected), kind="any", outcome="rejected"
            )
        return IngestResponse(
            accepted=result.accepted, duplicates=result.duplicates, rejected=result.rejected
        )

    @router.get("/agent/landmarks")
    async def agent_landmarks(request: Request) -> list[dict[str, Any]]:
        """The landmarks a device should probe (trusted ones), with addresses and public keys."""
        auth = await authenticate(ctx, request, 1024)

        def landmarks() -> list[dict[str, Any]]:
            _spend_nonce(auth)
            with ctx.db.read() as session:
                statements = latest_statements(session)
                rows = session.scalars(
                    select(Landmark).where(Landmark.trusted.is_(True)).order_by(Landmark.id)
                )
                return [
                    {
                        **{k: v for k, v in landmark_dict(lm).items() if k != "mesh"},
                        "statement": statements.get(lm.id),
                    }
                    for lm in rows
                ]

        return await run_in_threadpool(landmarks)

    return router


def purge_nonces(ctx: ServerContext) -> int:
    """Forget nonces older than twice the replay window (they can no longer pass the time check)."""
    cutoff = ctx.clock() - 2 * ctx.settings.replay_window_s
    with ctx.db.write() as session:
        return rowcount(session.execute(delete(RequestNonce).where(RequestNonce.time < cutoff)))
