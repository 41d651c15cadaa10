"""Hostile or odd inputs to the agent's edges: device strings, non-finite readings, bad settings."""

from __future__ import annotations

import json
import math
import re
import socket
import sqlite3
import urllib.request
from pathlib import Path

import pytest

from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, Snapshot
from fleetproof.agent.config import load_settings
from fleetproof.agent.export.http import ExporterServer, parse_listen
from fleetproof.agent.export.prometheus import render
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.runner import Agent
from fleetproof.errors import ConfigError


class _Fixed:
    """A collector that returns one prepared snapshot."""

    name = "fixed"

    def __init__(self, devices: list[DeviceReading], host: dict[str, float] | None = None) -> None:
        self.devices = devices
        self.host = host or {}

    def available(self) -> bool:
        return True

    def collect(self) -> Snapshot:
        return Snapshot(collector=self.name, time=0.0, devices=self.devices, host_metrics=self.host)

    def close(self) -> None:
        return None


def _agent(devices: list[DeviceReading], host: dict[str, float] | None = None) -> Agent:
    return Agent(
        collectors=[_Fixed(devices, host)],
        components=create_all(),
        outbox=None,
        hostname="h",
        clock=lambda: 0.0,
    )


def _device(**metrics: float) -> DeviceReading:
    return DeviceReading(info=DeviceInfo(index=0, vendor="nvidia", model="X", uuid="GPU-1"), metrics=metrics)


def test_infinite_values_use_the_exposition_spelling() -> None:
    # Finite readings can still overflow once scaled to base units (MHz -> Hz).
    agent = _agent([_device(clock_sm_mhz=1e305, clock_memory_mhz=-1e305)])
    agent.round()
    text = render(agent.state, "h")
    assert re.search(r'fleetproof_accelerator_sm_clock_hertz\{[^}]*uuid="GPU-1"[^}]*\} \+Inf', text)
    assert "} -Inf" in text
    assert " inf" not in text


def test_label_values_that_are_not_utf8_do_not_break_the_exposition() -> None:
    # A mount point or device string decoded with surrogateescape holds lone surrogates.
    name = b"/mnt/d\xffisk".decode("utf-8", "surrogateescape")
    dev = DeviceReading(info=DeviceInfo(index=0, vendor="nvidia", model="A\udcff", uuid="GPU-1"))
    agent = _agent([dev], {f"disk_used_percent[{name}]": 10.0})
    agent.round()
    body = render(agent.state, "h").encode()
    assert b"fleetproof_host_disk_used_ratio" in body
    body.decode("utf-8")


def test_unknown_metric_keys_give_valid_unique_families() -> None:
    # Two third-party keys that clean up to one name, and one that collides with a catalog name.
    agent = _agent([_device(**{"fan.speed": 1.0, "fan_speed": 2.0, "power_watts": 3.0, "power_w": 4.0})])
    agent.round()
    text = render(agent.state, "h")
    samples = [line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")]
    assert len(samples) == len(set(samples)), "duplicate series"
    types = [line for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len({t.split()[2] for t in types}), "duplicate family"


def test_help_text_of_unknown_keys_is_escaped() -> None:
    agent = _agent([_device(**{"odd\nkey\\": 1.0})])
    agent.round()
    text = render(agent.state, "h")
    for line in text.splitlines():
        assert line.startswith("#") or line.startswith("fleetproof_"), line


def test_json_endpoints_stay_valid_json_with_non_finite_readings() -> None:
    agent = _agent([_device(power_w=math.nan, temperature_c=math.inf)])
    agent.round()
    server = ExporterServer(agent.state, "h", "127.0.0.1", 0)
    server.start()
    host, port = server.address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/v1/metrics", timeout=5) as resp:
            body = resp.read().decode()
    finally:
        server.stop()

    def refuse(token: str) -> None:
        raise ValueError(token)

    data = json.loads(body, parse_constant=refuse)
    assert data


def test_ipv6_loopback_listen_address_binds() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    host, port = parse_listen("[::1]:0")
    try:
        server = ExporterServer(_agent([]).state, "h", host, port)
    except ConfigError as exc:
        if "Cannot assign" in str(exc) or "not available" in str(exc):
            pytest.skip("no IPv6 loopback here")
        raise
    server.start()
    try:
        assert server.address[0] == "::1"
    finally:
        server.stop()


def test_a_trickling_client_is_disconnected(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetproof.agent.export.http import _Handler

    assert _Handler.timeout is not None and _Handler.timeout <= 60
    monkeypatch.setattr(_Handler, "timeout", 0.2)
    server = ExporterServer(_agent([]).state, "h", "127.0.0.1", 0)
    server.start()
    try:
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            assert sock.recv(1024) == b""  # closed by the server, well before our 5 s
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "infinity"])
def test_non_finite_numbers_in_settings_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="interval_s"):
        load_settings(env={"FLEETPROOF_AGENT_INTERVAL_S": value})
    with pytest.raises(ConfigError, match="backoff_max_s"):
        load_settings(env={"FLEETPROOF_AGENT_BACKOFF_MAX_S": value})


@pytest.mark.parametrize(
    "line, name",
    [
        ('backend = ["nvidia", "amd"]', "backend"),
        ("listen = { host = '127.0.0.1' }", "listen"),
        ("interval_s = true", "interval_s"),
        ("outbox_max_items = false", "outbox_max_items"),
        ("simulated_devices = [1]", "simulated_devices"),
    ],
)
def test_wrong_toml_types_are_refused_by_name(tmp_path: Path, line: str, name: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError, match=name):
        load_settings(path, env={})


def test_config_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_bytes(b'hostname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"agent\.toml"):
        load_settings(path, env={})


def test_zero_batch_size_is_refused() -> None:
    with pytest.raises(ConfigError, match="outbox_batch_size"):
        load_settings(env={"FLEETPROOF_AGENT_OUTBOX_BATCH_SIZE": "0"})


def test_corrupted_outbox_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"outbox\.sqlite"):
        Outbox(path)


def test_a_full_disk_does_not_stop_rounds_or_the_local_endpoints(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")

    def full(*args: object, **kwargs: object) -> list[str]:
        raise sqlite3.OperationalError("database or disk is full")

    outbox.put_many = full  # type: ignore[method-assign]
    agent = Agent(
        collectors=[_Fixed([_device(power_w=100.0)])],
        components=create_all(),
        outbox=outbox,
        hostname="h",
        clock=lambda: 0.0,
    )
    results = agent.round()
    assert agent.state.rounds == 1
    [bad] = [r for r in results if r.component == "outbox"]
    assert bad.state == "unhealthy" and "disk is full" in bad.reason
    outbox.close()


def test_readings_that_are_not_finite_numbers_are_treated_as_not_reported(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    dev = _device(power_w=math.nan, temperature_c=math.inf, clock_sm_mhz=1500.0)
    dev.metrics["memory_used_bytes"] = None  # type: ignore[assignment]  # a third-party collector
    agent = Agent(
        collectors=[_Fixed([dev])], components=create_all(), outbox=outbox, hostname="h", clock=lambda: 0.0
    )
    results = agent.round()
    assert not [r for r in results if r.reason.startswith("check failed")]
    text = render(agent.state, "h")
    assert "fleetproof_accelerator_sm_clock_hertz" in text
    assert "power_watts{" not in text and "memory_used_bytes{" not in text

    def refuse(token: str) -> None:
        raise ValueError(token)

    for item in outbox.peek(100):
        json.loads(json.dumps(item.payload), parse_constant=refuse)
    outbox.close()


def test_a_nan_ecc_counter_is_not_an_ecc_storm() -> None:
    clock = [0.0]
    dev = _device(ecc_volatile_corrected_total=10.0)
    agent = Agent(
        collectors=[_Fixed([dev])], components=create_all(), outbox=None, hostname="h", clock=lambda: clock[0]
    )
    agent.round()
    for value in (math.nan, 12.0, math.inf, 14.0):
        clock[0] += 60.0
        dev.metrics["ecc_volatile_corrected_total"] = value
        results = agent.round()
        assert [r.state for r in results if r.component == "ecc"] == ["healthy"], value


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_every_other_method_is_refused_with_405(method: str) -> None:
    import http.client

    server = ExporterServer(_agent([]).state, "h", "127.0.0.1", 0)
    server.start()
    host, port = server.address
    try:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request(method, "/metrics")
        resp = conn.getresponse()
        resp.read()
        conn.close()
    finally:
        server.stop()
    assert resp.status == 405 and resp.getheader("Allow") == "GET, HEAD"


@pytest.mark.parametrize(
    "name, value",
    [
        ("otlp_interval_s", "0"),
        ("probe_samples", "0"),
        ("probe_samples", "65"),
        ("probe_timeout_s", "0"),
    ],
)
def test_settings_outside_their_range_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env={f"FLEETPROOF_AGENT_{name.upper()}": value})


def test_settings_outside_the_agent_table_are_not_silently_ignored(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('interval_s = 5\n\n[agent]\nlisten = "127.0.0.1:9411"\n')
    with pytest.raises(ConfigError, match="interval_s"):
        load_settings(path, env={})


def test_a_refused_request_body_is_not_read_as_the_next_request() -> None:
    import http.client

    server = ExporterServer(_agent([]).state, "h", "127.0.0.1", 0)
    server.start()
    host, port = server.address
    try:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("POST", "/metrics", body=b"DELETE /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = conn.getresponse()
        first.read()
        try:
            conn.request("GET", "/v1/health")
            second = conn.getresponse()
            status = second.status
            second.read()
        except (http.client.HTTPException, OSError):
            status = None  # the server closed the connection: also fine
        conn.close()
    finally:
        server.stop()
    assert first.status == 405
    assert status in (200, None)


def test_a_second_agent_on_the_same_state_directory_is_refused(tmp_path: Path) -> None:
    # Each outbox keeps its count and size in memory to enforce the bound; two processes
    # sharing one file would each see only their own items and let it grow past the bound.
    first = Outbox(tmp_path / "outbox.sqlite")
    with pytest.raises(ConfigError, match="another"):
        Outbox(tmp_path / "outbox.sqlite")
    first.close()
    Outbox(tmp_path / "outbox.sqlite").close()  # free again once the first has closed


def test_mountpoints_ending_in_a_bracket_keep_their_name() -> None:
    agent = _agent([], {"disk_used_percent[/srv/a]": 10.0, "disk_used_percent[/srv/a]]": 20.0})
    agent.round()
    text = render(agent.state, "h")
    assert 'mountpoint="/srv/a"} 0.1' in text
    assert 'mountpoint="/srv/a]"} 0.2' in text
