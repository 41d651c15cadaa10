from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors.amd import AmdCollector
from fleetproof.agent.collectors.ascend import AscendCollector
from fleetproof.agent.collectors.gaudi import GaudiCollector
from fleetproof.agent.collectors.nvidia import NvidiaCollector
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.collectors.system import SystemCollector
from fleetproof.agent.export.http import ExporterServer, parse_listen
from fleetproof.agent.export.metric_names import all_metric_names
from fleetproof.agent.export.prometheus import render
from fleetproof.agent.runner import Agent
from fleetproof.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "agent.md"
SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$'
)


def _agent(collectors: list[Any]) -> Agent:
    return Agent(
        collectors=collectors, components=create_all(), outbox=None, hostname="gpu-node-07", clock=lambda: 0.0
    )


def _every_backend(fake_nvml: Any, fake_amdsmi: Any, fake_hlml: Any, fixtures_dir: Path) -> list[Any]:
    text = (fixtures_dir / "ascend" / "npu-smi-info_910b_8npu.txt").read_text()
    return [
        SimulatedCollector(devices=8, faults="thermal@1,xid79@2,ecc_dbe@3,off_bus@4"),
        NvidiaCollector(nvml=fake_nvml),
        AmdCollector(amdsmi=fake_amdsmi),
        GaudiCollector(hlml=fake_hlml),
        AscendCollector(runner=lambda argv: text),
        SystemCollector(),
    ]


def test_exposition_is_valid_and_fully_documented(
    fake_nvml: Any, fake_amdsmi: Any, fake_hlml: Any, fixtures_dir: Path
) -> None:
    agent = _agent(_every_backend(fake_nvml, fake_amdsmi, fake_hlml, fixtures_dir))
    agent.round()
    text = render(agent.state, "gpu-node-07")
    names: set[str] = set()
    typed: set[str] = set()
    seen: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"gauge", "counter"}, line
            assert name not in typed, f"family {name} declared twice"
            assert name.endswith("_total") == (kind == "counter"), line
            typed.add(name)
        elif not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, f"not a valid sample line: {line!r}"
            float(m[3])
            names.add(m[1])
            series = m[1] + (m[2] or "")
            assert series not in seen, f"duplicate series {series}"
            seen.add(series)
    assert names == typed
    catalog = all_metric_names()
    assert names <= catalog, f"exported but not in the catalog: {names - catalog}"
    docs = DOCS.read_text(encoding="utf-8")
    assert not [n for n in catalog if f"`{n}`" not in docs], "metric names missing from docs/agent.md"


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def _value(text: str, name: str, **labels: str) -> float:
    found = [v for n, lab, v in _samples(text) if n == name and labels.items() <= lab.items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_labels_values_and_units(fake_nvml: Any) -> None:
    agent = _agent([NvidiaCollector(nvml=fake_nvml), SimulatedCollector(devices=2, faults="off_bus@1")])
    agent.round()
    text = render(agent.state, "gpu-node-07")
    labels = {
        "hostname": "gpu-node-07",
        "vendor": "nvidia",
        "index": "0",
        "uuid": "GPU-3b7f1c9e-52d4-8a61-0f3e-9c2b7d4e1a58",
        "model": "NVIDIA H100 80GB HBM3",
    }
    assert _value(text, "fleetproof_accelerator_power_watts", **labels) == pytest.approx(612.437)
    assert _value(text, "fleetproof_accelerator_sm_clock_hertz", **labels) == 1980e6
    assert _value(text, "fleetproof_accelerator_utilization_ratio", **labels) == pytest.approx(0.98)
    assert _value(text, "fleetproof_accelerator_up", **labels) == 1
    # NVML's total energy (mJ) and violation time (ns) in joules and seconds, as counters.
    assert _value(text, "fleetproof_accelerator_energy_joules_total", **labels) == pytest.approx(
        734520118.331
    )
    assert _value(text, "fleetproof_accelerator_throttle_seconds_total", **labels, policy="power") == 91.25
    assert _value(text, "fleetproof_accelerator_up", vendor="simulated", index="1") == 0
    assert _value(text, "fleetproof_accelerator_xid_events_total", code="79", severity="critical") == 1
    assert _value(text, "fleetproof_accelerator_xid_last_code", vendor="simulated", index="1") == 79
    # The Xid counter of every accelerator exists from the first round, 0 before any Xid.
    for severity in ("critical", "warning", "info"):
        assert _value(text, "fleetproof_accelerator_xid_errors_total", **labels, severity=severity) == 0
    sim1 = {"vendor": "simulated", "index": "1"}
    assert _value(text, "fleetproof_accelerator_xid_errors_total", **sim1, severity="critical") == 1
    assert _value(text, "fleetproof_accelerator_xid_errors_total", **sim1, severity="info") == 0
    unhealthy = [
        lab
        for n, lab, v in _samples(text)
        if n == "fleetproof_health_status" and lab["state"] == "unhealthy" and v == 1
    ]
    assert {lab["component"] for lab in unhealthy} >= {"missing_devices", "xid"}
    health = [lab for n, lab, _ in _samples(text) if n == "fleetproof_health_status"]
    assert {tuple(sorted(lab)) for lab in health} == {("component", "hostname", "state", "subject", "uuid")}
    assert "# TYPE fleetproof_accelerator_pcie_replays_total counter" in text


def test_health_is_one_series_per_state_from_the_first_scrape() -> None:
    agent = _agent([SimulatedCollector(devices=2)])
    before = render(agent.state, "h")
    rows = [(lab, v) for n, lab, v in _samples(before) if n == "fleetproof_health_status"]
    assert rows and all((v == 1) == (lab["state"] == "initializing") for lab, v in rows)
    agent.round()
    after = _samples(render(agent.state, "h"))
    per_key: dict[tuple[str, str, str], float] = {}
    for n, lab, v in after:
        if n == "fleetproof_health_status":
            key = (lab["component"], lab["uuid"], lab["subject"])
            per_key[key] = per_key.get(key, 0) + v
    assert per_key and set(per_key.values()) == {1.0}  # exactly one state is current


def test_label_values_are_escaped() -> None:
    sim = SimulatedCollector(devices=1)
    real_info = sim.info

    def odd(index: int) -> Any:
        from dataclasses import replace

        return replace(real_info(index), model='Weird "board"\\ with\nnewline')

    sim.info = odd  # type: ignore[method-assign]
    agent = _agent([sim])
    agent.round()
    text = render(agent.state, "h")
    assert 'model="Weird \\"board\\"\\\\ with\\nnewline"' in text
    assert all(SAMPLE.match(line) for line in text.splitlines() if not line.startswith("#"))


@pytest.fixture
def served() -> Iterator[tuple[Agent, str]]:
    agent = _agent([SimulatedCollector(devices=8, faults="thermal@2")])
    server = ExporterServer(agent.state, agent.hostname, "127.0.0.1", 0)
    server.start()
    host, port = server.address
    try:
        yield agent, f"http://{host}:{port}"
    finally:
        server.stop()


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def test_http_endpoints(served: tuple[Agent, str]) -> None:
    agent, base = served
    status, _, body = _get(base + "/v1/health")
    assert status == 200 and json.loads(body)["state"] == "initializing"
    assert _get(base + "/v1/inventory")[0] == 503
    agent.round()
    status, ctype, body = _get(base + "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    assert "fleetproof_agent_rounds_total" in body
    health = json.loads(_get(base + "/v1/health")[2])
    assert health["state"] == "degraded"
    assert any(c["component"] == "throttling" and c["device_index"] == 2 for c in health["components"])
    inventory = json.loads(_get(base + "/v1/inventory")[2])
    assert len(inventory["accelerators"]) == 8 and inventory["host"]["hostname"] == "gpu-node-07"
    telemetry = json.loads(_get(base + "/v1/metrics")[2])
    assert telemetry["accelerators"][2]["metrics"]["temperature_c"] >= 92
    assert _get(base + "/nope")[0] == 404
    agent.round()
    body = _get(base + "/metrics")[2]
    assert _value(body, "fleetproof_agent_rounds_total", hostname="gpu-node-07") == 2
    assert _value(body, "process_resident_memory_bytes") > 0


def test_metrics_are_gzipped_when_asked(served: tuple[Agent, str]) -> None:
    import gzip

    agent, base = served
    agent.round()
    plain = _get(base + "/metrics")[2]
    req = urllib.request.Request(base + "/metrics", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(resp.read()).decode()
    assert "fleetproof_accelerator_xid_errors_total" in body and "process_cpu_seconds_total" in body
    agent_part = [line for line in body.splitlines() if not line.startswith(("process_", "# HELP process_"))]
    assert len(agent_part) > 100 and len(body) > 0.9 * len(plain)
    refused = urllib.request.Request(base + "/metrics", headers={"Accept-Encoding": "gzip;q=0, identity"})
    with urllib.request.urlopen(refused, timeout=5) as resp:
        assert resp.headers["Content-Encoding"] is None


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9410") == ("127.0.0.1", 9410)
    assert parse_listen("[::1]:9410") == ("::1", 9410)
    for bad in ("9410", "host:", "host:99999", "host:http"):
        with pytest.raises(ConfigError):
            parse_listen(bad)


def test_otlp_export_through_the_sdk() -> None:
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from fleetproof.agent.export.otlp import OtlpExporter

    agent = _agent([SimulatedCollector(devices=2), SystemCollector()])
    agent.round()
    reader = InMemoryMetricReader()
    exporter = OtlpExporter(agent.state, "gpu-node-07", reader=reader)
    try:
        data = reader.get_metrics_data()
        points: dict[str, list[Any]] = {}
        for rm in data.resource_metrics:
            assert rm.resource.attributes["service.name"] == "fleetproof-agent"
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    points[metric.name] = list(metric.data.data_points)
        power = points["fleetproof_accelerator_power_watts"]
        assert len(power) == 2 and {p.attributes["index"] for p in power} == {0, 1}
        assert power[0].attributes["vendor"] == "simulated" and power[0].value > 0
        assert points["fleetproof_accelerator_sm_clock_hertz"][0].value == 1980e6
        assert any(p.attributes.get("mountpoint") == "/" for p in points["fleetproof_host_disk_used_ratio"])
        kinds = {
            m.name: m.data for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        }
        energy = kinds["fleetproof_accelerator_energy_joules_total"]
        assert type(energy).__name__ == "Sum" and energy.is_monotonic
        assert type(kinds["fleetproof_accelerator_power_watts"]).__name__ == "Gauge"
        assert kinds["fleetproof_accelerator_throttle_seconds_total"].is_monotonic
    finally:
        exporter.shutdown()


def test_health_turns_unhealthy_when_rounds_stop() -> None:
    now = [1000.0]
    agent = _agent([SimulatedCollector(devices=1)])
    agent.clock = lambda: now[0]
    agent.round()
    server = ExporterServer(agent.state, "h", "127.0.0.1", 0, interval_s=10, clock=lambda: now[0])
    server.start()
    try:
        host, port = server.address
        url = f"http://{host}:{port}/v1/health"
        assert json.loads(_get(url)[2])["state"] == "healthy"
        now[0] += 61  # more than three intervals and a grace period without a round
        doc = json.loads(_get(url)[2])
        assert doc["state"] == "unhealthy"
        assert any(c["component"] == "agent" and "may hang" in c["reason"] for c in doc["components"])
    finally:
        server.stop()


def test_otlp_http_export_reaches_a_collector(tmp_path: Path) -> None:
    """`agent run` with otlp_endpoint set posts OTLP/HTTP protobuf to it (here a loopback stand-in)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from fleetproof.agent.config import load_settings
    from fleetproof.agent.daemon import run_daemon

    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/metrics"
        settings = load_settings(
            env={},
            overrides={
                "backend": "simulated",
                "state_dir": str(tmp_path),
                "listen": "",
                "interval_s": 0.01,
                "otlp_endpoint": endpoint,
            },
        )
        assert run_daemon(settings, rounds=2) == 0  # shutting down flushes one export
    finally:
        server.shutdown()
        server.server_close()
    assert received, "no OTLP export arrived"
    path, ctype, body = received[-1]
    assert path == "/v1/metrics" and ctype == "application/x-protobuf"
    assert b"fleetproof_accelerator_power_watts" in body and b"fleetproof-agent" in body
