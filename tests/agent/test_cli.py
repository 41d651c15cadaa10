from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fleetproof.agent import cli as agent_cli
from fleetproof.agent.__main__ import main as agent_main
from fleetproof.agent.config import load_settings
from fleetproof.agent.daemon import run_daemon
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.transport import OutboxItem

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("FLEETPROOF_AGENT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FLEETPROOF_AGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FLEETPROOF_AGENT_CONFIG", str(tmp_path / "agent.toml"))
    (tmp_path / "agent.toml").write_text("# empty\n")


def test_scan_simulated_json_is_healthy(capsys: pytest.CaptureFixture[str]) -> None:
    assert agent_main(["scan", "--backend", "simulated", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["state"] == "healthy"
    assert len(doc["inventory"]["accelerators"]) == 8
    assert {h["component"] for h in doc["health"]} >= {"xid", "ecc", "throttling", "missing_devices"}
    assert doc["telemetry"]["accelerators"][0]["metrics"]["power_limit_w"] == 700


@pytest.mark.parametrize(("faults", "code"), [("thermal@1", 4), ("xid79@2", 5), ("ecc_dbe@0,power@1", 5)])
def test_scan_exit_status_reflects_health(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], faults: str, code: int
) -> None:
    monkeypatch.setenv("FLEETPROOF_AGENT_SIMULATED_FAULTS", faults)
    assert agent_main(["scan", "--backend", "simulated"]) == code
    out = capsys.readouterr().out
    assert out.startswith("host ") and "->" in out  # a suggested action is printed


def test_scan_unavailable_backend_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert agent_main(["scan", "--backend", "amd"]) == 3
    assert "backend amd" in capsys.readouterr().err


def test_bad_fault_is_a_user_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLEETPROOF_AGENT_SIMULATED_FAULTS", "meltdown")
    assert agent_main(["scan", "--backend", "simulated"]) == 2
    assert "bad simulated fault" in capsys.readouterr().err


def test_scan_through_the_module_entry_point() -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC), FLEETPROOF_AGENT_SIMULATED_DEVICES="3")
    out = subprocess.run(
        [sys.executable, "-m", "fleetproof.agent", "scan", "--backend", "simulated", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["inventory"]["accelerators"]) == 3


def test_run_without_server_fills_the_outbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--backend", "simulated", "--interval", "0.01", "--rounds", "3", "--listen", ""]
    assert agent_main(args) == 0
    box = Outbox(tmp_path / "state" / "outbox.sqlite3")
    kinds = [i.kind for i in box.peek(1000)]
    assert kinds.count("telemetry") == 3 and kinds.count("inventory") == 1 and "health" in kinds
    assert (tmp_path / "state" / "inventory.json").exists()


class Recorder:
    def __init__(self) -> None:
        self.items: list[OutboxItem] = []

    def send(self, items: Sequence[OutboxItem]) -> None:
        self.items.extend(items)


def test_run_delivers_and_runs_probe_rounds(tmp_path: Path) -> None:
    settings = load_settings(
        env={},
        overrides={
            "backend": "simulated",
            "state_dir": str(tmp_path / "s"),
            "interval_s": 0.01,
            "listen": "127.0.0.1:0",
            "probe_interval_s": 0.0,
        },
    )
    transport = Recorder()
    probes = iter(range(100))

    def probe_round() -> list[dict[str, Any]]:
        n = next(probes)
        return [{"id": f"rec-{n}", "landmark": "lm-fra-1", "rtt_ms": 4.2}]

    assert run_daemon(settings, rounds=3, transport=transport, probe_round=probe_round) == 0
    kinds = [i.kind for i in transport.items]
    assert kinds.count("telemetry") == 3 and kinds.count("probe_record") == 3
    assert [i.id for i in transport.items if i.kind == "probe_record"] == ["rec-0", "rec-1", "rec-2"]
    assert len(Outbox(tmp_path / "s" / "outbox.sqlite3")) == 0


def test_run_stops_on_event(tmp_path: Path) -> None:
    settings = load_settings(
        env={}, overrides={"backend": "simulated", "state_dir": str(tmp_path), "listen": ""}
    )
    stop = threading.Event()
    stop.set()
    assert run_daemon(settings, stop=stop) == 0


def test_server_url_without_client_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLEETPROOF_AGENT_SERVER_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FLEETPROOF_AGENT_STATE_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "fleetproof.agent.client", None)  # as if not installed
    assert agent_main(["run", "--backend", "simulated", "--rounds", "1", "--listen", ""]) == 3


def test_server_url_without_enrollment_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLEETPROOF_AGENT_SERVER_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FLEETPROOF_AGENT_STATE_DIR", str(tmp_path))
    assert agent_main(["run", "--backend", "simulated", "--rounds", "1", "--listen", ""]) == 2
    assert "not enrolled" in capsys.readouterr().err


def test_agent_parser_is_extensible() -> None:
    parser = argparse.ArgumentParser(prog="fleetproof")
    top = parser.add_subparsers(dest="command")

    def doctor(sub: Any) -> None:
        p = sub.add_parser("doctor")
        p.add_argument("--token")
        p.set_defaults(handler=lambda args: 0)

    agent_cli.register(top, extra=[doctor])
    late = agent_cli.agent_subparsers(top)  # a module registering later gets the same sub-parsers
    late.add_parser("hello").set_defaults(handler=lambda args: 7)
    assert parser.parse_args(["agent", "doctor", "--token", "t"]).token == "t"
    assert parser.parse_args(["agent", "hello"]).handler(None) == 7
    assert parser.parse_args(["agent", "scan", "--json"]).json
    args = parser.parse_args(["agent", "run", "--listen", "127.0.0.1:9410", "--interval", "10"])
    assert args.interval == 10.0 and args.listen == "127.0.0.1:9410"


def test_wired_into_the_fleetproof_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import fleetproof.cli as top

    monkeypatch.setattr(top, "COMMAND_MODULES", ("fleetproof.agent.cli",))
    assert top.main(["agent", "scan", "--backend", "simulated", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "healthy"
    assert top.main(["agent"]) == 2  # no action: usage


def test_registering_is_cheap() -> None:
    code = (
        "import sys, fleetproof.agent.cli as c, argparse\n"
        "c.register(argparse.ArgumentParser().add_subparsers())\n"
        "heavy = ('pydantic', 'sqlite3', 'psutil', 'pynvml', 'http.server')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> None:
    import importlib.machinery
    import types

    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)


def test_enroll_command_is_picked_up_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    def add_enroll_command(sub: Any) -> None:
        sub.add_parser("enroll").add_argument("--server", required=True)

    _fake_module(monkeypatch, "fleetproof.agent.enroll_cli", add_enroll_command=add_enroll_command)
    parser = argparse.ArgumentParser()
    agent_cli.register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["agent", "enroll", "--server", "https://fleet.example"]).server


def test_enrolled_agent_gets_the_client_transport(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fleetproof.agent.assemble import make_server_transport

    seen: list[Any] = []

    def make_transport(settings: Any) -> Recorder:
        seen.append(settings)
        return Recorder()

    _fake_module(monkeypatch, "fleetproof.agent.client", make_transport=make_transport)
    settings = load_settings(env={}, overrides={"state_dir": str(tmp_path)})
    assert make_server_transport(settings) is None  # neither enrolled nor a server_url: the outbox just fills
    (tmp_path / "server.json").write_text("{}")
    assert isinstance(make_server_transport(settings), Recorder)
    assert seen[-1].state_dir == str(tmp_path)
    monkeypatch.delitem(sys.modules, "fleetproof.agent.client")
    monkeypatch.setitem(sys.modules, "fleetproof.agent.client", None)  # import fails
    from fleetproof.errors import UnavailableError

    with pytest.raises(UnavailableError, match="server client"):
        make_server_transport(settings)


def test_run_keeps_an_unavailable_named_backend_and_reports_it(tmp_path: Path) -> None:
    from fleetproof.agent.assemble import assemble_agent

    settings = load_settings(env={}, overrides={"backend": "amd", "state_dir": str(tmp_path), "listen": ""})
    agent = assemble_agent(settings, keep_state=True)
    try:
        results = agent.round()
    finally:
        agent.close()
    bad = [r for r in results if r.component == "collection"]
    assert [r.state for r in bad] == ["unhealthy"] and "backend amd" in bad[0].reason
