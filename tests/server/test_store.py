"""Enrollment, authenticated ingest and the store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import uuid

from server_helpers import (
    ADMIN_HEADERS,
    add_landmark,
    enroll,
    head_revision,
    health_item,
    inventory,
    record_item,
    signed,
    telemetry_item,
)
from sqlalchemy import func, select

from fleetproof.protocol.curve25519 import Ed25519PrivateKey
from fleetproof.server.store.models import LatestMetrics, Measurement, TelemetryRecord


def test_migrations_are_idempotent(ctx) -> None:
    assert ctx.db.migrate() == head_revision()
    assert ctx.db.current_revision() == head_revision()


def test_enroll_then_ingest_and_duplicates_are_ignored(client, ctx, clock) -> None:
    dev = enroll(client)
    items = [telemetry_item(clock.now - i) for i in range(5)]
    r = signed(client, dev, "/api/v1/ingest", {"items": items}, now=clock.now)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 5, "duplicates": 0, "rejected": []}
    # The outbox re-delivers after a lost acknowledgement: nothing is stored twice.
    r = signed(
        client, dev, "/api/v1/ingest", {"items": [*items, telemetry_item(clock.now + 1)]}, now=clock.now
    )
    assert r.json() == {"accepted": 1, "duplicates": 5, "rejected": []}
    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(TelemetryRecord)) == 6
        latest = s.scalars(select(LatestMetrics).where(LatestMetrics.uuid == "GPU-gpu-host-1-0")).one()
        assert latest.time == clock.now + 1
        assert latest.metrics["power_w"] == 1.0


def test_enrollment_token_is_one_time_and_expires(client, clock) -> None:
    from fleetproof.probe.keys import public_key_b64

    enroll(client)
    token = client.post(
        "/api/v1/enrollment-tokens", json={"zone": "eu-west", "ttl_s": 60}, headers=ADMIN_HEADERS
    )
    token = token.json()["token"]
    body = {"public_key": public_key_b64(Ed25519PrivateKey.generate()), "inventory": inventory("h2")}
    clock.advance(61)
    assert (
        client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"}).status_code
        == 403
    )
    token = client.post("/api/v1/enrollment-tokens", json={"zone": "eu-west"}, headers=ADMIN_HEADERS).json()[
        "token"
    ]
    assert (
        client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    body["public_key"] = public_key_b64(Ed25519PrivateKey.generate())
    assert (
        client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"}).status_code
        == 403
    )
    assert (
        client.post("/api/v1/enroll", json=body, headers={"Authorization": "Bearer nope"}).status_code == 403
    )


def test_requests_are_authenticated_by_the_device_key(client, clock) -> None:
    a = enroll(client, hostname="a")
    b = enroll(client, hostname="b")
    body = {"items": [telemetry_item(clock.now)]}
    # b's key cannot write as a: the signature does not verify under a's key.
    assert signed(client, b, "/api/v1/ingest", body, now=clock.now, device_id=a.device_id).status_code == 401
    # Outside the replay window.
    assert signed(client, a, "/api/v1/ingest", body, now=clock.now - 3600).status_code == 401
    # The exact same request twice: the second is a replay.
    import json

    from fleetproof.protocol.reqsign import sign_request

    raw = json.dumps(body).encode()
    headers = sign_request(a.key, a.device_id, "POST", "/api/v1/ingest", raw, now=clock.now)
    assert client.post("/api/v1/ingest", content=raw, headers=headers).status_code == 200
    r = client.post("/api/v1/ingest", content=raw, headers=headers)
    assert r.status_code == 401 and "replay" in r.json()["detail"]
    # A body changed in flight.
    headers = sign_request(a.key, a.device_id, "POST", "/api/v1/ingest", raw, now=clock.now)
    tampered = raw.replace(b"gpu-host-1", b"gpu-host-9")
    assert client.post("/api/v1/ingest", content=tampered, headers=headers).status_code == 401
    # A revoked device is refused.
    assert client.delete(f"/api/v1/devices/{a.device_id}", headers=ADMIN_HEADERS).status_code == 200
    assert signed(client, a, "/api/v1/ingest", {"items": []}, now=clock.now).status_code == 401


def test_bad_items_are_rejected_one_by_one_with_a_reason(client, clock) -> None:
    dev = enroll(client)
    good = telemetry_item(clock.now)
    bad = telemetry_item(clock.now)
    bad["payload"]["accelerators"][0]["metrics"]["power_w"] = "lots"
    r = signed(client, dev, "/api/v1/ingest", {"items": [good, bad]}, now=clock.now)
    assert r.status_code == 200
    out = r.json()
    assert out["accepted"] == 1
    assert out["rejected"][0]["id"] == bad["id"] and "power_w" in out["rejected"][0]["error"]
    # A malformed envelope is a 422 with a message, never a 5xx.
    r = signed(client, dev, "/api/v1/ingest", b'{"items": [{"id": 1}]}', now=clock.now)
    assert r.status_code == 422
    r = signed(client, dev, "/api/v1/ingest", b"not json", now=clock.now)
    assert r.status_code == 422
    nan = json.dumps({"items": [telemetry_item(clock.now)]}).replace('"power_w": 1.0', '"power_w": NaN')
    assert "NaN" in nan
    r = signed(client, dev, "/api/v1/ingest", nan.encode(), now=clock.now)
    assert r.status_code == 422


def test_inventory_and_health_roll_up_to_devices_and_alerts(client, clock) -> None:
    dev = enroll(client)
    uuid0 = "GPU-gpu-host-1-0"
    items = [
        {
            "id": str(uuid.uuid4()),
            "kind": "inventory",
            "created_at": clock.now,
            "payload": inventory(gpus=4, time_s=clock.now),
        },
        health_item(clock.now, "unhealthy", uuid0),
        health_item(clock.now, "healthy", "GPU-gpu-host-1-1"),
    ]
    assert signed(client, dev, "/api/v1/ingest", {"items": items}, now=clock.now).status_code == 200
    detail = client.get(f"/api/v1/devices/{dev.device_id}", headers=ADMIN_HEADERS).json()
    assert detail["health"] == "unhealthy"
    assert len(detail["accelerators"]) == 4
    assert {a["uuid"]: a["health"] for a in detail["accelerators"]}[uuid0] == "unhealthy"
    comp = next(c for c in detail["health_components"] if c["accelerator_uuid"] == uuid0)
    assert "fallen off the bus" in comp["reason"] and comp["suggested_action"]
    alerts = client.get("/api/v1/alerts?open_only=true", headers=ADMIN_HEADERS).json()
    assert [a["kind"] for a in alerts] == ["accelerator_unhealthy"]
    # Seen again: still one alert. Then healthy: closed.
    clock.advance(10)
    signed(
        client, dev, "/api/v1/ingest", {"items": [health_item(clock.now, "unhealthy", uuid0)]}, now=clock.now
    )
    assert len(client.get("/api/v1/alerts?open_only=true", headers=ADMIN_HEADERS).json()) == 1
    clock.advance(10)
    signed(
        client, dev, "/api/v1/ingest", {"items": [health_item(clock.now, "healthy", uuid0)]}, now=clock.now
    )
    assert client.get("/api/v1/alerts?open_only=true", headers=ADMIN_HEADERS).json() == []
    assert client.get(f"/api/v1/devices/{dev.device_id}", headers=ADMIN_HEADERS).json()["health"] == "healthy"


def test_probe_records_need_a_known_landmark_and_a_valid_signature(client, ctx, clock) -> None:
    dev = enroll(client)
    lm_key = Ed25519PrivateKey.generate()
    add_landmark(client, "fra-1", 50.11, 8.68, lm_key, "DE")
    good = record_item(dev, "fra-1", lm_key, 3.2, clock.now)
    unknown = record_item(dev, "nowhere", lm_key, 3.2, clock.now)
    forged = record_item(dev, "fra-1", Ed25519PrivateKey.generate(), 3.2, clock.now)
    edited = record_item(dev, "fra-1", lm_key, 3.2, clock.now)
    edited["payload"]["rtt_ms"] = edited["payload"]["samples_ms"][1] = 1.0
    r = signed(client, dev, "/api/v1/ingest", {"items": [good, unknown, forged, edited]}, now=clock.now)
    out = r.json()
    assert out["accepted"] == 1
    errors = {x["id"]: x["error"] for x in out["rejected"]}
    assert "unknown landmark" in errors[unknown["id"]]
    assert "signature" in errors[forged["id"]] and "signature" in errors[edited["id"]]
    # A record of another device, forwarded by this one, is refused.
    other = enroll(client, hostname="other")
    theirs = record_item(other, "fra-1", lm_key, 2.0, clock.now)
    out = signed(client, dev, "/api/v1/ingest", {"items": [theirs]}, now=clock.now).json()
    assert "not the sender" in out["rejected"][0]["error"]
    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Measurement)) == 1
    entries = client.get("/api/v1/audit", headers=ADMIN_HEADERS).json()["entries"]
    assert [e["action"] for e in entries].count("measurement.accepted") == 1


def test_devices_list_has_the_contract_fields(client, clock) -> None:
    dev = enroll(client)
    r = client.get("/api/v1/devices", headers=ADMIN_HEADERS)
    assert r.status_code == 200
    (item,) = r.json()
    assert {"id", "zone", "verdict", "suspicious", "estimate", "health"} <= set(item)
    assert item["id"] == dev.device_id and item["zone"] == "eu-west" and item["verdict"] is None
    assert client.get("/api/v1/devices?zone=nope", headers=ADMIN_HEADERS).json() == []
