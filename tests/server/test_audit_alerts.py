"""Audit chain, alert de-duplication and webhook delivery, retention, silent hosts — on both stores."""

from __future__ import annotations

import json

from server_helpers import ADMIN_HEADERS, enroll, signed, telemetry_item
from sqlalchemy import func, select, update

from fleetproof.server import audit
from fleetproof.server.alerts import backoff_s, deliver_due, raise_alert, resolve_alert
from fleetproof.server.maintenance import check_silent_hosts
from fleetproof.server.retention import downsample
from fleetproof.server.store.models import AlertDelivery, AuditEntry, TelemetryRecord, TelemetryRollup


def test_audit_chain_verifies_and_names_the_first_broken_link(client, ctx, tmp_path) -> None:
    for i in range(3):
        client.post("/api/v1/zones", json={"id": f"z{i}", "allowed_countries": ["DE"]}, headers=ADMIN_HEADERS)
    report = audit.verify_chain(ctx.db)
    assert report.ok and report.entries == 3
    assert client.get("/api/v1/audit/verify", headers=ADMIN_HEADERS).json()["ok"] is True
    out = tmp_path / "audit.jsonl"
    assert audit.export(ctx.db, out) == 3
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert audit.check_entries(iter(exported)).ok
    # Someone edits entry 2 in the database.
    with ctx.db.write() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(details={"allowed_countries": ["FR"]}))
    report = audit.verify_chain(ctx.db)
    assert not report.ok and report.first_broken_seq == 2 and "hash" in report.problem
    # ... or deletes one from an export.
    del exported[1]
    broken = audit.check_entries(iter(exported))
    assert broken.first_broken_seq == 2 and "missing" in broken.problem


def test_alerts_are_deduplicated_and_webhooks_retry_with_backoff(ctx, clock) -> None:
    hooks = ["http://127.0.0.1:9/hook"]
    with ctx.db.write() as s:
        a1, new1 = raise_alert(
            s, kind="host_silent", subject="d1", message="m", now=clock.now, webhooks=hooks
        )
        a2, new2 = raise_alert(
            s, kind="host_silent", subject="d1", message="m", now=clock.now + 5, webhooks=hooks
        )
        assert new1 and not new2 and a1.id == a2.id
    calls: list[dict] = []
    fail = {"n": 2}

    def post(url: str, body: dict) -> None:
        calls.append(body)
        if fail["n"]:
            fail["n"] -= 1
            raise ConnectionError("refused")

    assert deliver_due(ctx.db, post, now=clock.now) == 0
    assert deliver_due(ctx.db, post, now=clock.now + 1) == 0  # not due yet: backoff
    assert deliver_due(ctx.db, post, now=clock.now + backoff_s(1)) == 0  # second failure
    assert deliver_due(ctx.db, post, now=clock.now + backoff_s(1) + backoff_s(2)) == 1
    assert len(calls) == 3 and calls[-1]["event"] == "opened" and calls[-1]["alert"]["kind"] == "host_silent"
    with ctx.db.write() as s:
        assert resolve_alert(s, kind="host_silent", subject="d1", now=clock.now + 100, webhooks=hooks)
        assert not resolve_alert(s, kind="host_silent", subject="d1", now=clock.now + 100, webhooks=hooks)
    assert deliver_due(ctx.db, post, now=clock.now + 100) == 1 and calls[-1]["event"] == "resolved"
    # A receiver that never answers is given up on, with the error kept.
    with ctx.db.write() as s:
        raise_alert(s, kind="host_silent", subject="d2", message="m", now=clock.now, webhooks=hooks)

    def down(url: str, body: dict) -> None:
        raise ConnectionError("down")

    t = clock.now
    for _ in range(12):
        t += 4000
        deliver_due(ctx.db, down, now=t, max_attempts=3)
    with ctx.db.read() as s:
        d = s.scalars(select(AlertDelivery).order_by(AlertDelivery.id.desc())).first()
        assert d.gave_up and d.attempts == 3 and "down" in d.last_error


def test_silent_hosts_raise_one_alert_until_heard_again(client, ctx, clock) -> None:
    dev = enroll(client)
    clock.advance(ctx.settings.silent_after_s + 1)
    assert check_silent_hosts(ctx, clock.now) == 1
    assert check_silent_hosts(ctx, clock.now + 60) == 0
    open_kinds = [
        a["kind"] for a in client.get("/api/v1/alerts?open_only=true", headers=ADMIN_HEADERS).json()
    ]
    assert open_kinds == ["host_silent"]
    signed(client, dev, "/api/v1/ingest", {"items": [telemetry_item(clock.now)]}, now=clock.now)
    assert client.get("/api/v1/alerts?open_only=true", headers=ADMIN_HEADERS).json() == []


def test_retention_downsamples_raw_telemetry_and_keeps_latest(client, ctx, clock) -> None:
    from fleetproof.server.dashboard_data import StoreDashboardSource

    dev = enroll(client)
    start = clock.now
    items = [
        telemetry_item(start + 60 * i, gpus=2, metrics=6) for i in range(20)
    ]  # 20 minutes, one per minute
    clock.advance(19 * 60)  # sent after the last was taken (items ahead of the clock are refused)
    signed(client, dev, "/api/v1/ingest", {"items": items}, now=clock.now)
    before = StoreDashboardSource(ctx.db).telemetry(dev.device_id, "power_w", start)
    assert len(before) == 2 and len(before[0]["points"]) == 20
    clock.advance(ctx.settings.raw_retention_s + 60 + 1)
    assert downsample(ctx, now=clock.now, chunk=7) == 20
    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(TelemetryRecord)) == 0
        rollups = list(s.scalars(select(TelemetryRollup)))
    assert 4 <= len(rollups) <= 5  # 5-minute buckets over 20 minutes
    gpu0 = [r.data["GPU-gpu-host-1-0"]["power_w"] for r in rollups]
    assert sum(a["count"] for a in gpu0) == 20 and all(a["min"] == a["max"] == 1.0 for a in gpu0)
    after = StoreDashboardSource(ctx.db).telemetry(dev.device_id, "power_w", start)
    assert len(after[0]["points"]) == len(rollups)
    # Latest values survive retention.
    detail = client.get(f"/api/v1/devices/{dev.device_id}", headers=ADMIN_HEADERS).json()
    assert detail["accelerators"][0]["metrics"]["power_w"] == 1.0
    assert downsample(ctx, now=clock.now) == 0


def test_one_background_round_does_every_task(client, ctx, clock) -> None:
    from fleetproof.server.maintenance import Background, run_once

    ctx.settings.webhooks = ["http://127.0.0.1:9/hook"]
    dev = enroll(client)
    signed(client, dev, "/api/v1/ingest", {"items": [telemetry_item(clock.now)]}, now=clock.now)
    posted: list[dict] = []
    clock.advance(ctx.settings.raw_retention_s + ctx.settings.silent_after_s + 1)
    done = run_once(ctx, poster=lambda url, body: posted.append(body))
    assert done["silent_opened"] == 1 and done["downsampled"] == 1 and done["nonces_purged"] >= 1
    assert done["webhooks_delivered"] == 1 and posted[0]["alert"]["kind"] == "host_silent"
    assert done["verdicts"] == 0  # no engine configured in this context: the queue waits
    # The thread starts and stops cleanly.
    bg = Background(ctx)
    bg.start()
    bg.stop()
    assert bg._thread is not None and not bg._thread.is_alive()


def test_webhooks_reach_a_real_receiver_over_http_with_retries(ctx, clock) -> None:
    """The production poster against a real HTTP server on loopback: a 503 is retried after backoff."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from fleetproof.server.alerts import httpx_poster

    received: list[dict] = []
    answers = [503, 204]

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            status = answers.pop(0)
            if status < 300:
                received.append(body)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        with ctx.db.write() as session:
            raise_alert(
                session, kind="relocation", subject="dev-1", message="moved", now=clock.now, webhooks=[url]
            )
        post = httpx_poster(timeout_s=5)
        assert deliver_due(ctx.db, post, now=clock.now) == 0  # 503: kept for later
        assert deliver_due(ctx.db, post, now=clock.now + 1) == 0  # not due yet: backing off
        assert deliver_due(ctx.db, post, now=clock.now + backoff_s(1)) == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert len(received) == 1 and answers == []
    assert received[0]["event"] == "opened" and received[0]["alert"]["kind"] == "relocation"
    with ctx.db.read() as session:
        delivery = session.scalar(select(AlertDelivery))
        assert delivery.attempts == 2 and delivery.delivered_at is not None and "503" in delivery.last_error
