"""Agent requests are authenticated before any work: body under its limit, signature, then parse.

Also: the signature covers the query string (request signature version 2), version 1
agents keep working for requests without a query, chunked bodies are held to the size
limit on every route, and the agent imports nothing from the server.
"""

from __future__ import annotations

import ast
import json
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import ADMIN_HEADERS, enroll, signed, telemetry_item

from fleetproof.protocol.reqsign import sign_request

INGEST = "/api/v1/ingest"
SRC = Path(__file__).resolve().parents[2] / "src" / "fleetproof"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b"x" * n
        sent += n


def test_a_forged_request_is_refused_before_its_body_is_parsed(
    client: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fleetproof.server.api_agent as api_agent

    dev, other = enroll(client), enroll(client, hostname="other")

    def parse_batch(raw: bytes) -> Any:
        raise AssertionError("the body of an unauthenticated request was parsed")

    monkeypatch.setattr(api_agent, "parse_batch", parse_batch)
    for body in (b"{not json", json.dumps({"items": [telemetry_item(clock.now)]}).encode()):
        # Signed with another device's key, in this device's name.
        r = signed(client, other, INGEST, body, now=clock.now, device_id=dev.device_id)
        assert r.status_code == 401, r.text
    r = signed(client, dev, INGEST, b"{}", now=clock.now, device_id="dev-nobody")
    assert r.status_code == 401 and "unknown" in r.json()["detail"]


async def _drive(app: Any, path: str, headers: dict[str, str], chunks: Any) -> int:
    """One request straight through the ASGI app, its body fed chunk by chunk as a server would."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8470),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        chunk = await anext(chunks, None) if hasattr(chunks, "__anext__") else next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def test_a_forged_body_is_not_held_in_memory(client: Any, clock: Any) -> None:
    """8 MiB from someone without the key cost about the spool's 1 MiB of memory, not 8 MiB."""
    import asyncio

    dev, other = enroll(client), enroll(client, hostname="other")
    headers = sign_request(other.key, dev.device_id, "POST", INGEST, b"whatever", now=clock.now)
    tracemalloc.start()
    try:
        status = asyncio.run(_drive(client.app, INGEST, headers, _chunks(8 * 1024 * 1024)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 401
    assert peak < 3 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a forged 8 MiB body"


def test_the_signature_covers_the_query_string(client: Any, clock: Any) -> None:
    dev = enroll(client)
    raw = json.dumps({"items": [telemetry_item(clock.now)]}).encode()
    headers = sign_request(dev.key, dev.device_id, "POST", INGEST, raw, now=clock.now)
    r = client.post(INGEST + "?zone=other", content=raw, headers=headers)
    assert r.status_code == 401 and "does not verify" in r.json()["detail"]
    headers = sign_request(dev.key, dev.device_id, "POST", INGEST, raw, query="trace=1", now=clock.now)
    assert client.post(INGEST + "?trace=1", content=raw, headers=headers).status_code == 200
    headers = sign_request(dev.key, dev.device_id, "GET", "/api/v1/agent/landmarks", b"", now=clock.now)
    assert client.get("/api/v1/agent/landmarks?all=1", headers=headers).status_code == 401


def test_version_1_agents_keep_working_without_a_query(client: Any, clock: Any) -> None:
    dev = enroll(client)
    raw = json.dumps({"items": [telemetry_item(clock.now)]}).encode()
    headers = sign_request(dev.key, dev.device_id, "POST", INGEST, raw, now=clock.now, version=1)
    assert "X-Fleetproof-Version" not in headers
    r = client.post(INGEST, content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    headers = sign_request(dev.key, dev.device_id, "POST", INGEST, raw, now=clock.now, version=1)
    r = client.post(INGEST + "?x=1", content=raw, headers=headers)
    assert r.status_code == 401 and "query" in r.json()["detail"]
    headers = dict(headers, **{"X-Fleetproof-Version": "3"})
    assert client.post(INGEST, content=raw, headers=headers).status_code == 401


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_chunked_bodies_are_held_to_the_limit_on_every_route(db_url: str, clock: Any) -> None:
    from conftest import make_ctx
    from fastapi.testclient import TestClient

    from fleetproof.server.app import create_app

    ctx = make_ctx(db_url, clock, max_body_bytes=100_000)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        dev = enroll(c)
        r = c.post("/api/v1/zones", content=_chunks(1_000_000), headers=ADMIN_HEADERS)
        assert r.status_code == 413, r.text
        headers = sign_request(dev.key, dev.device_id, "POST", INGEST, b"", now=clock.now)
        r = c.post(INGEST, content=_chunks(1_000_000), headers=headers)
        assert r.status_code == 413, r.text
        # Within the limit, chunked is fine.
        raw = json.dumps({"items": [telemetry_item(clock.now)]}).encode()
        headers = sign_request(dev.key, dev.device_id, "POST", INGEST, raw, now=clock.now)
        r = c.post(INGEST, content=iter([raw[:100], raw[100:]]), headers=headers)
        assert r.status_code == 200, r.text
    ctx.db.dispose()


def test_the_agent_imports_nothing_from_the_server() -> None:
    offenders = []
    for path in sorted((SRC / "agent").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("fleetproof.server")]
    assert offenders == []


async def _reading(app: Any, device_id: str) -> None:
    """Until a body in ``device_id``'s name is being read (an event, not a delay: the bound only
    stops a broken test from hanging)."""
    import asyncio

    async def wait() -> None:
        while device_id not in getattr(getattr(app.state, "body_rations", None), "reading", ()):
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), 60)


def test_bodies_are_read_one_at_a_time_per_device(client: Any, clock: Any) -> None:
    """While one body of a device streams in, another in its name is answered 503 at once."""
    import asyncio

    dev, other = enroll(client), enroll(client, hostname="other")

    async def both() -> tuple[int, int]:
        release = asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield b"x" * 1000
            await release.wait()

        first_headers = sign_request(other.key, dev.device_id, "POST", INGEST, b"x", now=clock.now)
        second_headers = sign_request(other.key, dev.device_id, "POST", INGEST, b"y", now=clock.now)
        first = asyncio.ensure_future(_drive(client.app, INGEST, first_headers, slow()))
        await _reading(client.app, dev.device_id)
        second = await _drive(client.app, INGEST, second_headers, iter([b"{}"]))
        release.set()
        return await first, second

    first, second = asyncio.run(both())
    assert second == 503 and first == 401


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bodies_beyond_max_body_reads_wait_then_get_503(
    db_url: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from conftest import make_ctx
    from fastapi.testclient import TestClient

    import fleetproof.server.agent_auth as agent_auth
    from fleetproof.server.app import create_app

    monkeypatch.setattr(agent_auth, "BODY_READ_WAIT_S", 0.2)
    ctx = make_ctx(db_url, clock, max_body_reads=1)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        a, b = enroll(c), enroll(c, hostname="b")

    async def both() -> tuple[int, int]:
        release = asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield b"x" * 1000
            await release.wait()

        held = asyncio.ensure_future(
            _drive(
                c.app, INGEST, sign_request(b.key, a.device_id, "POST", INGEST, b"x", now=clock.now), slow()
            )
        )
        await _reading(c.app, a.device_id)  # a's body holds the only turn
        raw = json.dumps({"items": [telemetry_item(clock.now)]}).encode()
        headers = sign_request(b.key, b.device_id, "POST", INGEST, raw, now=clock.now)
        waited = await _drive(c.app, INGEST, headers, iter([raw]))
        release.set()
        return await held, waited

    held, waited = asyncio.run(both())
    assert held == 401 and waited == 503
    ctx.db.dispose()


def test_forged_requests_in_one_name_read_the_store_once_a_period(client: Any, ctx: Any, clock: Any) -> None:
    from sqlalchemy import event

    dev, other = enroll(client), enroll(client, hostname="other")
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        for n in range(20):
            raw = json.dumps({"items": [telemetry_item(clock.now)], "n": n}).encode()
            r = signed(client, other, INGEST, raw, now=clock.now, device_id=dev.device_id)
            assert r.status_code == 401
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)
    reads = [s for s in statements if "FROM devices" in s]
    assert len(reads) == 1, f"{len(reads)} reads of the device table for 20 forged requests"
    assert not [s for s in statements if "request_nonces" in s]
    # A good request is still read again in its own transaction (so revocation is immediate).
    r = signed(client, dev, INGEST, {"items": [telemetry_item(clock.now)]}, now=clock.now)
    assert r.status_code == 200, r.text
