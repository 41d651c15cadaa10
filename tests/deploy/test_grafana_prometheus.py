"""The Grafana dashboard and the rule files against a real Prometheus scraping a real agent.

Runs the agent's HTTP exporter in-process over a simulated host with faults (a temporary
outbox, two rounds a second) and Debian's ``prometheus`` on 127.0.0.1 with a temporary data
directory, a 1 s scrape interval and both rule files; then asks Prometheus' HTTP API for every panel query
of deploy/grafana/fleetproof.json (Grafana's variables replaced by "all"): each must evaluate
without error, and the main panels must return data. The recording and alerting rules must
evaluate without error too. Both processes are stopped at the end.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.conftest import DEPLOY, require_tool

from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.collectors.system import SystemCollector
from fleetproof.agent.export.http import ExporterServer
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.runner import Agent

DASHBOARD = DEPLOY / "grafana" / "fleetproof.json"
#: Panels that must show data from one agent alone (the others need the fleet server).
MAIN_PANELS = {
    "Unhealthy hosts",
    "Degraded hosts",
    "Accelerators up",
    "Health by component",
    "Temperature",
    "Power draw and limit",
    "Utilisation",
    "Memory in use",
    "SM clock",
    "Energy use (average power)",
    "Throttled",
    "Xid errors by severity",
    "ECC errors",
    "Time throttled",
    "Outbox",
    "Scrape health",
    "Seconds since the last round",
    "Agent memory and CPU",
}
GRAFANA_VARS = {"$host": ".*", "$gpu": ".*", "$__rate_interval": "10s", "$__interval": "1s", "$__range": "1m"}
DEADLINE_S = 90.0
ALERT = "FleetproofCriticalXid"

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _targets() -> list[tuple[str, str]]:
    out = []
    for panel in _dashboard()["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    return out


def _expand(expr: str) -> str:
    for var, value in sorted(GRAFANA_VARS.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(var, value)
    assert "$" not in expr.replace("$1", ""), f"a Grafana variable the test does not know: {expr}"
    return expr


def test_dashboard_shape() -> None:
    dash = _dashboard()
    names = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "host", "gpu"} <= names
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    titles = {p["title"] for p in dash["panels"]}
    assert titles >= MAIN_PANELS
    for panel in dash["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
    text = json.dumps(dash)
    for topic in (
        "fleetproof_health_status",
        "fleetproof_server_hosts",
        "temperature",
        "power",
        "utilization",
    ):
        assert topic in text
    assert "fleetproof_agent_outbox" in text and 'up{job=~\\"fleetproof.*\\"}' in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _LiveAgent:
    """The agent's exporter in-process over a simulated host whose rounds run on a thread.

    Its clock is the real one plus ``offset``; moving ``offset`` forward sets off the faults
    that wait (an Xid 79 on GPU 1 after 300 s), so a test decides when they happen: after
    Prometheus has scraped the counters at 0, which is what makes ``increase()`` see them.
    """

    def __init__(self, state_dir: Path) -> None:
        self.offset = 0.0
        clock = self.clock
        faults = "ecc_storm@2,thermal@3,xid13@4,xid79@1+300"
        self.agent = Agent(
            collectors=[SimulatedCollector(devices=8, faults=faults, clock=clock), SystemCollector()],
            components=create_all(),
            outbox=Outbox(state_dir / "outbox.sqlite3"),
            hostname="gpu-node-07",
            clock=clock,
        )
        self.server = ExporterServer(self.agent.state, "gpu-node-07", "127.0.0.1", 0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def clock(self) -> float:
        return time.time() + self.offset

    def _loop(self) -> None:
        while True:
            self.agent.round()
            if self.stop.wait(0.5):
                return

    def __enter__(self) -> str:
        self.server.start()
        self.thread.start()
        host, port = self.server.address
        return f"{host}:{port}"

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.server.stop()
        self.agent.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_LiveAgent, str]]:
    binary = require_tool("prometheus", "apt-get install prometheus")
    tmp = tmp_path_factory.mktemp("prom")
    prom_port = _free_port()
    live = _LiveAgent(tmp)
    with live as target:
        rules = [str(DEPLOY / "prometheus" / name) for name in ("recording-rules.yml", "alerts.yml")]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rules,
            "scrape_configs": [{"job_name": "fleetproof-agent", "static_configs": [{"targets": [target]}]}],
        }
        (tmp / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        prom = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{prom_port}"
        try:
            # Ready once a 10 s rate window holds several scrapes of the live agent.
            ready = 'count_over_time(fleetproof_agent_rounds_total{job="fleetproof-agent"}[10s]) >= 4'
            _wait(base, ready, prom)
            yield live, base
        finally:
            _stop(prom)


def _wait(base: str, expr: str, prom: subprocess.Popen[bytes] | None = None) -> list[Any]:
    """Poll Prometheus until ``expr`` returns something (or fail after DEADLINE_S)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        if prom is not None and prom.poll() is not None:
            raise AssertionError(prom.stderr.read().decode() if prom.stderr else "prometheus stopped")
        try:
            found = _query(base, expr)
            if found:
                return found
        except OSError:
            pass
        assert time.monotonic() < deadline, f"never true: {expr}"
        time.sleep(0.5)


def _query(base: str, expr: str) -> list[Any]:
    doc = _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert doc["status"] == "success", (expr, doc)
    return list(doc["data"]["result"])


def test_every_panel_query_evaluates_and_main_panels_have_data(live: tuple[_LiveAgent, str]) -> None:
    _, prometheus = live
    empty: dict[str, list[str]] = {}
    for title, expr in _targets():
        result = _query(prometheus, _expand(expr))  # an error fails here, naming the query
        if not result:
            empty.setdefault(title, []).append(expr)
    # A main panel shows data when one of its queries returns some.
    main_without_data = {t for t in MAIN_PANELS if t in empty and len(empty[t]) == _count(t)}
    assert not main_without_data, {t: empty[t] for t in main_without_data}


def _count(title: str) -> int:
    return sum(1 for t, _ in _targets() if t == title)


def test_variables_have_values(live: tuple[_LiveAgent, str]) -> None:
    _, prometheus = live
    hosts = _get(
        f"{prometheus}/api/v1/label/hostname/values?"
        + urllib.parse.urlencode({"match[]": "fleetproof_agent_build_info"})
    )["data"]
    assert hosts == ["gpu-node-07"]
    gpus = _get(
        f"{prometheus}/api/v1/label/uuid/values?"
        + urllib.parse.urlencode({"match[]": 'fleetproof_accelerator_info{hostname=~".*"}'})
    )["data"]
    assert len(gpus) == 8


def test_rules_evaluate_on_live_data(live: tuple[_LiveAgent, str]) -> None:
    agent, prometheus = live
    deadline = time.monotonic() + DEADLINE_S
    while True:
        groups = _get(f"{prometheus}/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules):
            break
        assert time.monotonic() < deadline, "rules never evaluated"
        time.sleep(0.5)
    bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not bad, bad
    temps = _wait(prometheus, "DCGM_FI_DEV_GPU_TEMP")
    assert len(temps) == 8 and {"gpu", "UUID", "modelName", "Hostname"} <= set(temps[0]["metric"])
    assert {r["metric"]["Hostname"] for r in temps} == {"gpu-node-07"}
    # Prometheus has the critical-Xid counter of GPU 1 at 0; then the Xid 79 happens.
    _wait(prometheus, 'fleetproof_accelerator_xid_errors_total{index="1",severity="critical"} == 0')
    assert not [a for a in _alerts(prometheus) if a["labels"]["alertname"] == ALERT]
    agent.offset = 400.0
    xid = _wait(prometheus, 'DCGM_FI_DEV_XID_ERRORS{gpu="1"} == 79')
    assert xid[0]["metric"]["UUID"].startswith("GPU-")
    deadline = time.monotonic() + DEADLINE_S
    while not (
        critical := [a for a in _alerts(prometheus) if a["labels"]["alertname"] == "FleetproofCriticalXid"]
    ):
        assert time.monotonic() < deadline, "the critical Xid alert never fired"
        time.sleep(0.5)
    assert [a["labels"]["index"] for a in critical] == ["1"]


def _alerts(base: str) -> list[dict[str, Any]]:
    return list(_get(f"{base}/api/v1/alerts")["data"]["alerts"])


def test_no_query_uses_an_unknown_metric() -> None:
    from fleetproof.agent.export.metric_names import all_metric_names

    known = all_metric_names() | {
        "fleetproof_server_hosts",
        "fleetproof_server_open_alerts",
        "fleetproof_server_requests_total",
        "fleetproof_server_request_duration_seconds_bucket",
    }
    for _, expr in _targets():
        for name in re.findall(r"\bfleetproof_[a-z0-9_]+", expr):
            assert name in known, name
