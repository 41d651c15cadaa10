"""Two server processes on one PostgreSQL behind HAProxy, agents delivering through it, while
one process is killed with SIGKILL and started again and PostgreSQL restarts: nothing is
lost, nothing stored twice, and every host's verdict is computed once.

Faults are placed by progress (after so many acknowledged batches), never by the clock.
Needs Debian's ``haproxy`` (installed by ``.ci/run``) and PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import SERVER_TOKEN, Enrolled, free_port, record_item, start_server, telemetry_item
from sqlalchemy import func, select, update

from fleetproof.agent.client import HttpTransport, enroll
from fleetproof.agent.enroll_cli import host_inventory
from fleetproof.agent.outbox import Outbox
from fleetproof.probe.keys import load_private_key, public_key_b64
from fleetproof.protocol.curve25519 import Ed25519PrivateKey
from fleetproof.server import audit
from fleetproof.server.store.db import Database
from fleetproof.server.store.models import Measurement, TelemetryRecord, Verdict, VerdictQueue

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.slow]
ADMIN = {"Authorization": f"Bearer {SERVER_TOKEN}"}
AGENTS, TELEMETRY_PER_AGENT, BATCH = 4, 150, 10
LANDMARKS = [("fra", 50.11, 8.68), ("ber", 52.52, 13.40), ("muc", 48.14, 11.58)]

HAPROXY_CFG = """
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend fleet
    bind 127.0.0.1:{port}
    default_backend servers
backend servers
    balance roundrobin
    option httpchk GET /readyz
    default-server inter 200ms fall 1 rise 1
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check
"""


class Agent(threading.Thread):
    """One host: an outbox with telemetry and probe records, delivered through the balancer."""

    def __init__(
        self, name: str, state: Path, transport: HttpTransport, progress: Any, gate: threading.Event
    ) -> None:
        super().__init__(daemon=True)
        self.clock = [time.time() - 60]  # items are dated by it: a minute ago
        self.outbox = Outbox(state / "outbox.sqlite3", clock=lambda: self.clock[0])
        self.transport = transport
        self.progress = progress
        self.gate = gate  # cleared while the test sets up a fault: no new delivery starts
        self.ids: list[str] = []
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while len(self.outbox) and not self.stop.is_set():
            self.gate.wait()
            self.clock[0] += 10_000.0  # backoff is the outbox's business; here every loop is a try
            report = self.outbox.deliver(self.transport, batch_size=BATCH, max_batches=1)
            if report.delivered:
                self.progress(1)
            elif report.failed:
                self.failed += 1
                self.stop.wait(0.05)  # the server is down: do not spin


def test_kill_9_and_a_database_restart_behind_a_load_balancer(own_postgres: Any, tmp_path: Path) -> None:
    from conftest import fresh_postgres_db

    if shutil.which("haproxy") is None:
        if os.environ.get("FLEETPROOF_REQUIRE_HAPROXY") == "1":
            pytest.fail("HAProxy required but not installed (apt-get install haproxy)")
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    db = fresh_postgres_db(own_postgres.url)
    pa, pb, lb = free_port(), free_port(), free_port()
    env = {"FLEETPROOF_VERDICT_DEBOUNCE_S": "3600", "FLEETPROOF_MAX_CONNECTIONS_PER_SOURCE": "0"}
    servers = {
        "a": start_server(db, pa, tmp_path / "a.log", env=env, background=True),
        "b": start_server(db, pb, tmp_path / "b.log", env=env, background=True),
    }
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=lb, a=pa, b=pb))
    proxy = subprocess.Popen(
        ["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{lb}"
    agents: list[Agent] = []
    try:
        _wait_ready(base)
        r = httpx.post(f"{base}/api/v1/zones", json={"id": "de", "allowed_countries": ["DE"]}, headers=ADMIN)
        assert r.status_code == 201, r.text
        landmark_keys = {}
        for lm_id, lat, lon in LANDMARKS:
            key = Ed25519PrivateKey.generate()
            landmark_keys[lm_id] = key
            body = {
                "id": lm_id,
                "lat": lat,
                "lon": lon,
                "address": "127.0.0.1:9",
                "public_key": public_key_b64(key),
            }
            assert httpx.post(f"{base}/api/v1/landmarks", json=body, headers=ADMIN).status_code == 201
        acked = [0]
        lock = threading.Lock()
        gate = threading.Event()
        gate.set()
        hold_at = [0]  # once this many batches are acknowledged, no agent starts another

        def progress(n: int) -> None:
            with lock:
                acked[0] += n
                if hold_at[0] and acked[0] >= hold_at[0]:
                    gate.clear()

        now = time.time()
        for i in range(AGENTS):
            name = f"lb-host-{i}"
            token = httpx.post(f"{base}/api/v1/enrollment-tokens", json={"zone": "de"}, headers=ADMIN).json()[
                "token"
            ]
            state = tmp_path / name
            identity = enroll(base, token, state, host_inventory(name))
            key = load_private_key(state / "device.key")
            transport = HttpTransport(base, identity.device_id, key, timeout_s=10)
            agent = Agent(name, state, transport, progress, gate)
            dev = Enrolled(identity.device_id, key, "de")
            entries: list[Any] = []
            for k in range(TELEMETRY_PER_AGENT):
                item = telemetry_item(now - 200 + k, hostname=name, gpus=2, metrics=6)
                entries.append(("telemetry", item["payload"], item["id"]))
            for lm_id, key_lm in landmark_keys.items():
                rec = record_item(dev, lm_id, key_lm, rtt_ms=4.0, time_s=now - 30)
                entries.append(("probe_record", rec["payload"], rec["id"]))
            agent.outbox.put_many(entries)
            agent.ids = [e[2] for e in entries]
            agents.append(agent)
        total_batches = AGENTS * ((TELEMETRY_PER_AGENT + len(LANDMARKS) + BATCH - 1) // BATCH)
        for agent in agents:
            agent.start()

        def when(batches: int) -> None:
            while acked[0] < batches and any(a.is_alive() for a in agents):
                time.sleep(0.01)
            assert acked[0] >= batches, "the agents stopped before the fault"

        when(total_batches // 4)
        servers["a"].send_signal(signal.SIGKILL)  # other requests are in flight on the other agents
        servers["a"].wait(timeout=10)
        when(total_batches // 2)
        servers["a"] = start_server(db, pa, tmp_path / "a.log", env=env, background=True)
        # The outage must meet deliveries whatever the machine's speed: the agents hold still from
        # two thirds on until the database is down, then resume into it.
        hold_at[0] = total_batches * 2 // 3
        if acked[0] >= hold_at[0]:
            gate.clear()
        when(hold_at[0])
        own_postgres.stop()
        gate.set()
        while not any(a.failed for a in agents) and any(a.is_alive() for a in agents):
            time.sleep(0.01)
        assert any(a.failed for a in agents), "no delivery met the database outage"
        own_postgres.start()
        for agent in agents:
            agent.join(timeout=120)
        assert all(len(a.outbox) == 0 for a in agents), "an agent could not deliver everything"
        store = Database(db)
        try:
            with store.read() as s:
                telemetry = list(s.scalars(select(TelemetryRecord.item_id)))
                records = list(s.scalars(select(Measurement.item_id)))
            sent = {i for a in agents for i in a.ids}
            assert len(telemetry) == len(set(telemetry)) and len(records) == len(set(records)), "stored twice"
            assert set(telemetry) | set(records) == sent, "lost"
            # Every host is queued once; both processes race for the queue: one verdict each.
            with store.write() as s:
                s.execute(update(VerdictQueue).values(due_at=VerdictQueue.due_at - 7200))
            deadline = time.monotonic() + 60  # an upper bound only: background rounds run every second
            while time.monotonic() < deadline:
                with store.read() as s:
                    if not s.scalar(select(func.count()).select_from(VerdictQueue)):
                        break
                time.sleep(0.2)
            with store.read() as s:
                per_host = dict(
                    s.execute(select(Verdict.device_id, func.count()).group_by(Verdict.device_id)).all()
                )
            assert sorted(per_host.values()) == [1] * AGENTS, per_host
            report = audit.verify_chain(store)
            assert report.ok, report
        finally:
            store.dispose()
    finally:
        for agent in agents:
            agent.stop.set()
        proxy.terminate()
        proxy.wait(timeout=10)
        for proc in servers.values():
            proc.kill()
            proc.wait(timeout=10)


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 30  # start-up only: HAProxy's first health checks
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the load balancer never became ready")
