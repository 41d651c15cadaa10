"""The store going away and coming back: 503 with Retry-After, one log line per outage, /readyz.

Against a real PostgreSQL cluster of the test's own, stopped and started again.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from server_helpers import ADMIN_HEADERS, enroll, signed, telemetry_item

pytestmark = [pytest.mark.postgres, pytest.mark.integration]


def test_an_outage_is_503_with_retry_after_and_logged_once(
    own_postgres: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from conftest import fresh_postgres_db, make_ctx
    from fastapi.testclient import TestClient

    from fleetproof.server.app import create_app

    ctx = make_ctx(fresh_postgres_db(own_postgres.url), clock)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        dev = enroll(client)
        r = signed(client, dev, "/api/v1/ingest", {"items": [telemetry_item(clock.now)]}, now=clock.now)
        assert r.status_code == 200, r.text
        assert client.get("/readyz").status_code == 200
        own_postgres.stop()
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="fleetproof"):
            for _ in range(3):
                r = signed(
                    client, dev, "/api/v1/ingest", {"items": [telemetry_item(clock.now)]}, now=clock.now
                )
                assert r.status_code == 503 and int(r.headers["retry-after"]) > 0, r.text
                r = client.get("/api/v1/devices", headers=ADMIN_HEADERS)
                assert r.status_code == 503 and "retry-after" in r.headers, r.text
                assert client.get("/healthz").status_code == 200  # liveness never needs the store
                r = client.get("/readyz")
                assert r.status_code == 503 and r.json()["ready"] is False
            down = [r for r in caplog.records if "unreachable" in r.getMessage()]
            assert len(down) == 1 and down[0].levelno == logging.WARNING
            assert not any(r.exc_info for r in caplog.records), "a traceback was logged for an outage"
            own_postgres.start()
            assert client.get("/readyz").status_code == 200
            r = signed(client, dev, "/api/v1/ingest", {"items": [telemetry_item(clock.now)]}, now=clock.now)
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        back = [r for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(back) == 1
        assert ctx.outage.outages == 1
    ctx.db.dispose()
