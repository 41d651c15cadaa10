"""First-run safety: a simulated agent keeps out of a real agent's state; enroll reads run's settings."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fleetproof.agent.config import load_settings
from fleetproof.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in list(os.environ):
        if key.startswith("FLEETPROOF_AGENT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FLEETPROOF_AGENT_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("[agent]\n")
    return tmp_path


@pytest.mark.parametrize("root", [True, False])
def test_simulated_backend_never_takes_the_system_state_dir(
    home: Path, monkeypatch: pytest.MonkeyPatch, root: bool
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0 if root else 1000)
    real = load_settings(env={}).resolved_state_dir()
    assert real == (Path("/var/lib/fleetproof/agent") if root else home / ".local/state/fleetproof/agent")
    for backend in ("simulated", "nvidia,simulated"):
        sim = load_settings(env={}, overrides={"backend": backend}).resolved_state_dir()
        assert sim == home / ".local" / "state" / "fleetproof" / "agent-simulated"
    # A state directory asked for is taken as it is.
    chosen = load_settings(env={}, overrides={"backend": "simulated", "state_dir": str(home / "s")})
    assert chosen.resolved_state_dir() == home / "s"


def test_simulated_run_as_root_writes_only_its_own_directory(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert main(["agent", "run", "--backend", "simulated", "--rounds", "1", "--listen", ""]) == 0
    state = home / ".local" / "state" / "fleetproof" / "agent-simulated"
    assert (state / "outbox.sqlite3").exists() and (state / "inventory.json").exists()


def test_enroll_reads_the_settings_file_of_agent_run(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = home / "agent.toml"
    config.write_text(
        f'[agent]\nstate_dir = "{home / "agent-state"}"\nserver_url = "https://fleet.example:8470"\n'
        'hostname = "gpu-node-07"\n'
    )
    seen: dict[str, Any] = {}

    def fake_enroll(server: str, token: str, state_dir: str, inventory: Any, attest: Any = None) -> Any:
        seen.update(server=server, token=token, state_dir=state_dir, hostname=inventory.host.hostname)
        return SimpleNamespace(device_id="dev-1", zone="eu")

    import fleetproof.agent.client as client

    monkeypatch.setattr(client, "enroll", fake_enroll)
    assert main(["agent", "enroll", "--config", str(config), "--token", "fpe_x"]) == 0
    assert seen == {
        "server": "https://fleet.example:8470",
        "token": "fpe_x",
        "state_dir": str(home / "agent-state"),
        "hostname": "gpu-node-07",
    }
    # The same file through the environment, as `agent run` reads it.
    monkeypatch.setenv("FLEETPROOF_AGENT_CONFIG", str(config))
    seen.clear()
    assert main(["agent", "enroll", "--token", "fpe_y", "--server", "https://other:8470"]) == 0
    assert seen["server"] == "https://other:8470" and seen["state_dir"] == str(home / "agent-state")


def test_enroll_without_a_server_says_so(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "enroll", "--token", "fpe_x"]) == 2
    assert "server" in capsys.readouterr().err
