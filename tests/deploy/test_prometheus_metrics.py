"""`/metrics` of the agent and the server, checked by Prometheus' own linter (`promtool check metrics`).

promtool prints one line per complaint (a counter without ``_total``, a missing HELP, a
non-base unit, duplicate or unsorted samples...) and exits non-zero on a parse error; both
exposition texts must give neither.
"""

from __future__ import annotations

import gzip
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.deploy.conftest import require_tool

from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.collectors.system import SystemCollector
from fleetproof.agent.export.http import ExporterServer
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.runner import Agent

PROMTOOL_HOW = "apt-get install prometheus"


def promtool_check(text: str) -> str:
    promtool = require_tool("promtool", PROMTOOL_HOW)
    res = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return (res.stdout + res.stderr).strip()


@pytest.fixture
def agent_url(tmp_path: Path) -> Iterator[tuple[Agent, str]]:
    faults = "xid79@1,xid48@2,xid13@3,thermal@4,ecc_storm@5,ecc_dbe@6,power@7"
    agent = Agent(
        collectors=[SimulatedCollector(devices=8, faults=faults), SystemCollector(disk_paths=["/", "/tmp"])],
        components=create_all(),
        outbox=Outbox(tmp_path / "outbox.sqlite3"),
        hostname="gpu-node-07",
    )
    server = ExporterServer(agent.state, agent.hostname, "127.0.0.1", 0)
    server.start()
    host, port = server.address
    try:
        yield agent, f"http://{host}:{port}/metrics"
    finally:
        server.stop()
        agent.close()


def _scrape(url: str) -> str:
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
        if resp.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def test_agent_metrics_pass_promtool_before_and_after_rounds(agent_url: tuple[Agent, str]) -> None:
    agent, url = agent_url
    before = _scrape(url)
    assert promtool_check(before) == ""
    agent.round()
    agent.round()
    after = _scrape(url)
    assert promtool_check(after) == ""
    for family in (
        "fleetproof_accelerator_xid_errors_total",
        "fleetproof_accelerator_energy_joules_total",
        "fleetproof_accelerator_throttle_seconds_total",
        "fleetproof_health_status",
        "fleetproof_agent_outbox_dropped_total",
        "process_resident_memory_bytes",
    ):
        assert f"\n{family}{{" in after or f"\n{family} " in after, family


def test_server_metrics_pass_promtool(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from fleetproof.server.app import create_app
    from fleetproof.server.config import ServerSettings
    from fleetproof.server.context import ServerContext
    from fleetproof.server.records_check import check_probe_record
    from fleetproof.server.store.db import Database

    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    db = Database(url)
    db.migrate()
    settings = ServerSettings(db=url, admin_token="test-admin-token-0123", background=False)
    ctx = ServerContext(settings=settings, db=db, check_record=check_probe_record)
    try:
        with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/v1/devices").status_code == 401
            client.get("/api/v1/devices", headers={"Authorization": "Bearer test-admin-token-0123"})
            r = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
            assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
            text = r.text  # httpx undoes the gzip
    finally:
        db.dispose()
    assert promtool_check(text) == ""
    assert "# TYPE fleetproof_server_request_duration_seconds histogram" in text
    assert (
        'fleetproof_server_request_duration_seconds_bucket{le="+Inf",method="GET",route="/healthz"} 1.0'
        in text
    )
    assert 'fleetproof_server_verdicts_total{verdict="violation"} 0.0' in text
    assert "process_cpu_seconds_total" in text
