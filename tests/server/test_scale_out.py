"""Several server processes on one PostgreSQL: each has its own engine and pool; they share only the store.

Two contexts stand in for two processes (separate engines, so separate connections and
advisory-lock holders), driven from threads at once.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, insert, select

from fleetproof.server import admin, audit
from fleetproof.server.pipeline import Outcome, Round, process_queue
from fleetproof.server.store.models import Device, Landmark, Measurement, Verdict, VerdictQueue

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_processes(postgres_server: str, clock):
    from conftest import fresh_postgres_db, make_ctx

    url = fresh_postgres_db(postgres_server)
    a, b = make_ctx(url, clock), make_ctx(url, clock)
    yield a, b
    a.db.dispose()
    b.db.dispose()


def run_together(*jobs) -> None:
    threads = [threading.Thread(target=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


def test_audit_chain_stays_one_chain(two_processes) -> None:
    a, b = two_processes

    def writer(ctx, name: str) -> None:
        for i in range(40):
            with ctx.db.write() as s:
                audit.append(
                    ctx.db, s, actor=name, action="test", subject=str(i), details={"i": i}, now=time.time()
                )

    run_together(lambda: writer(a, "a"), lambda: writer(b, "b"))
    report = audit.verify_chain(a.db)
    assert report.ok and report.entries == 80


class CountingVerifier:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def verify(self, round_: Round) -> Outcome:
        with self.lock:
            self.calls.append(round_.device_id)
        time.sleep(0.002)
        return Outcome(verdict="consistent", suspicious=False, estimate=None, evidence={})


def test_each_queued_host_is_judged_once(two_processes, clock) -> None:
    a, b = two_processes
    admin.create_zone(a.db, admin.ZoneIn(id="z", allowed_countries=["DE"]), actor="t", now=clock.now)
    with a.db.write() as s:
        s.execute(
            insert(Landmark),
            [
                {
                    "id": "fra",
                    "lat": 50.1,
                    "lon": 8.7,
                    "address": "x:1",
                    "public_key": "k",
                    "trusted": True,
                    "mesh": {},
                    "created_at": clock.now,
                }
            ],
        )
        s.execute(
            insert(Device),
            [
                {
                    "id": f"d{i}",
                    "zone_id": "z",
                    "public_key": f"k{i}",
                    "hostname": f"h{i}",
                    "enrolled_at": clock.now,
                    "last_seen": clock.now,
                    "inventory": {},
                    "health": "healthy",
                    "suspicious": False,
                    "relocated": False,
                    "peer_inconsistent": False,
                }
                for i in range(60)
            ],
        )
        s.execute(
            insert(Measurement),
            [
                {
                    "device_id": f"d{i}",
                    "item_id": "m",
                    "landmark_id": "fra",
                    "time": clock.now,
                    "rtt_ms": 2.0,
                    "record": {},
                }
                for i in range(60)
            ],
        )
        s.execute(insert(VerdictQueue), [{"device_id": f"d{i}", "due_at": clock.now - 60} for i in range(60)])
    verifier = CountingVerifier()

    def worker(ctx) -> None:
        while process_queue(ctx, now=clock.now, limit=7, verifier=verifier):
            pass

    run_together(lambda: worker(a), lambda: worker(b))
    assert sorted(verifier.calls) == sorted(f"d{i}" for i in range(60))  # every host once, none twice
    with a.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Verdict)) == 60
        assert s.scalar(select(func.count()).select_from(VerdictQueue)) == 0


def test_an_enrollment_token_works_once_across_processes(two_processes, clock) -> None:
    from fastapi.testclient import TestClient
    from server_helpers import ADMIN_HEADERS, inventory

    from fleetproof.probe.keys import generate_key, public_key_b64
    from fleetproof.server.app import create_app

    a, b = two_processes
    clients = [TestClient(create_app(a)), TestClient(create_app(b))]
    clients[0].post("/api/v1/zones", json={"id": "z", "allowed_countries": ["DE"]}, headers=ADMIN_HEADERS)
    token = (
        clients[0]
        .post("/api/v1/enrollment-tokens", json={"zone": "z"}, headers=ADMIN_HEADERS)
        .json()["token"]
    )
    codes: list[int] = []

    def enroll(c) -> None:
        body = {"public_key": public_key_b64(generate_key()), "inventory": inventory()}
        codes.append(
            c.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"}).status_code
        )

    run_together(*[lambda c=c: enroll(c) for c in clients * 3])
    assert sorted(codes) == [200, 403, 403, 403, 403, 403]
