"""Authenticating an agent request before any work is done for it.

Order, cheapest first, so that an anonymous or forged request costs little:

1. the signature headers and the request time (no I/O): 401 when missing, malformed or stale;
2. the device's key (one read, or none while :class:`KeyCache` holds it): 401 for an unknown
   or revoked device;
3. the body, streamed under the size limit (chunked bodies included) into a SHA-256 and a
   spool that keeps at most :data:`SPOOL_MEMORY_BYTES` in memory and the rest in a
   temporary file: 413 past the limit;
4. the signature over method, path, query, time, nonce and the body's hash: 401.

Step 3 is rationed, because it is the one that costs CPU and I/O before anyone is known:
at most ``max_body_reads`` bodies (a setting, default 4) are read at once (a request waits up to
:data:`BODY_READ_WAIT_S` for a turn, else 503 with ``Retry-After``), and at most one per
device id (an agent sends one request at a time; a second while the first streams is
answered 503 at once) — so a flood of forged bodies in one device's name is read one at a
time, and ``/healthz`` and the other agents keep their share of the event loop.

Only then is the body handed out for parsing and validation. The nonce is recorded in
the caller's write transaction (:func:`consume_nonce`), so an accepted request costs one
commit; a read just before parsing only spares a replay the parsing.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any

from fastapi import HTTPException, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from fleetproof.protocol.reqsign import (
    SignatureProblem,
    SignedHeaders,
    check_fresh,
    check_signature,
    parse_headers,
    public_key_from_b64,
)
from fleetproof.server.context import ServerContext
from fleetproof.server.store.models import Device, RequestNonce

__all__ = [
    "BODY_READ_WAIT_S",
    "SPOOL_MEMORY_BYTES",
    "Authenticated",
    "authenticate",
    "consume_nonce",
    "read_limited",
]

# What one request body may hold in memory while it is not yet authenticated; the rest
# waits in a temporary file. 32 such requests at once cost at most 32 MiB.
SPOOL_MEMORY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Authenticated:
    device_id: str
    public_key: str
    nonce: str
    sent: float
    body: bytes


BODY_READ_WAIT_S = 10.0


class _Rations:
    """The read slots of one event loop (the app keeps one; created on first use, in the loop)."""

    def __init__(self, slots: int) -> None:
        self.slots = asyncio.Semaphore(max(1, slots))
        self.reading: set[str] = set()


def _busy(detail: str) -> HTTPException:
    return HTTPException(status_code=503, detail=detail, headers={**CLOSE, "Retry-After": "1"})


# A refused request's body may still be on its way: closing the connection stops it, where
# keep-alive would make the server read (and throw away) all of it.
CLOSE = {"Connection": "close"}


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers=CLOSE)


class KeyCache:
    """Device keys as last read, for :data:`KEY_CACHE_S`, at most :data:`KEY_CACHE_SIZE` of them.

    A flood of requests in the names of the same device ids then costs the store one read per
    id and period rather than one per request. Never authoritative: an accepted request reads
    the key again in its write transaction (:func:`consume_nonce`), so a revocation takes
    effect at once; an id enrolled just after a miss waits out the period (its agent retries).
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.entries: dict[str, tuple[float, str | None]] = {}

    def get(self, ctx: ServerContext, device_id: str) -> str | None:
        now = self.clock()
        hit = self.entries.get(device_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        with ctx.db.read() as session:
            key = session.scalar(select(Device.public_key).where(Device.id == device_id))
        if key is not None and key.startswith("revoked:"):
            key = None
        if len(self.entries) >= KEY_CACHE_SIZE:
            self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
            if len(self.entries) >= KEY_CACHE_SIZE:
                self.entries.clear()
        self.entries[device_id] = (now + KEY_CACHE_S, key)
        return key


KEY_CACHE_S = 10.0
KEY_CACHE_SIZE = 10_000


def _key(ctx: ServerContext, device_id: str) -> str | None:
    cache = ctx.cache.get(KeyCache)
    if cache is None:
        cache = ctx.cache[KeyCache] = KeyCache(time.monotonic)
    return cache.get(ctx, device_id)


def _replayed(ctx: ServerContext, signed: SignedHeaders) -> bool:
    with ctx.db.read() as session:
        seen = session.scalar(
            select(RequestNonce.nonce).where(
                RequestNonce.device_id == signed.device_id, RequestNonce.nonce == signed.nonce
            )
        )
    return seen is not None


async def read_limited(request: Request, limit: int, spool: IO[bytes]) -> str:
    """Stream the body into ``spool``; return its SHA-256 (hex). 413 as soon as it passes ``limit``."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail=f"body larger than {limit} bytes", headers=CLOSE)
        digest.update(chunk)
        spool.write(chunk)
    return digest.hexdigest()


async def authenticate(ctx: ServerContext, request: Request, limit: int) -> Authenticated:
    """The device, nonce and body of a correctly signed, fresh, never-seen request; 401/413 otherwise."""
    try:
        signed = parse_headers(request.headers)
        sent = check_fresh(signed, now=ctx.clock(), window_s=ctx.settings.replay_window_s)
    except SignatureProblem as exc:
        raise _unauthorized(str(exc)) from None
    key_text = await run_in_threadpool(_key, ctx, signed.device_id)
    if key_text is None:
        raise _unauthorized("unknown or revoked device")
    try:
        public_key = public_key_from_b64(key_text)
    except ValueError:
        raise _unauthorized("unknown or revoked device") from None
    query = request.scope.get("query_string", b"").decode("latin-1")
    rations: _Rations | None = getattr(request.app.state, "body_rations", None)
    if rations is None:
        rations = request.app.state.body_rations = _Rations(ctx.settings.max_body_reads)
    if signed.device_id in rations.reading:
        raise _busy("a request of this device is still being read; send one at a time")
    rations.reading.add(signed.device_id)
    try:
        await asyncio.wait_for(rations.slots.acquire(), BODY_READ_WAIT_S)
    except TimeoutError:
        rations.reading.discard(signed.device_id)
        raise _busy("too many request bodies being read; try again") from None
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            digest = await read_limited(request, limit, spool)
            try:
                check_signature(public_key, signed, request.method, request.url.path, query, digest)
            except SignatureProblem as exc:
                raise _unauthorized(str(exc)) from None
            spool.seek(0)
            body = spool.read()  # only now, for a request known to come from the device
    finally:
        rations.slots.release()
        rations.reading.discard(signed.device_id)
    # A replay carries a genuine signature; spare it the parsing (the write checks again).
    if await run_in_threadpool(_replayed, ctx, signed):
        raise _unauthorized("replayed request (nonce seen before)")
    return Authenticated(signed.device_id, key_text, signed.nonce, sent, body)


def consume_nonce(session: Session, auth: Authenticated) -> None:
    """Record the request's nonce in the caller's transaction: a nonce seen before is a replay (401).

    The device's key is read again in the same transaction, so a key revoked while the body
    was read does not slip through.
    """
    key = session.scalar(select(Device.public_key).where(Device.id == auth.device_id))
    if key != auth.public_key:
        raise _unauthorized("unknown or revoked device")
    try:
        with session.begin_nested():
            session.add(RequestNonce(device_id=auth.device_id, nonce=auth.nonce, time=auth.sent))
    except IntegrityError:
        raise _unauthorized("replayed request (nonce seen before)") from None
