from __future__ import annotations

from pathlib import Path

import pytest

from fleetproof.agent.config import SETTINGS, load_settings
from fleetproof.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "agent.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    undocumented = [s.name for s in SETTINGS if f"| `{s.name}` | `{s.env}` |" not in text]
    assert not undocumented, f"settings missing from docs/agent.md: {undocumented}"


def test_documentation_names_no_setting_that_does_not_exist() -> None:
    text = DOCS.read_text(encoding="utf-8")
    names = {s.name for s in SETTINGS}
    documented = {
        line.split("`")[1]
        for line in text.splitlines()
        if line.startswith("| `") and "FLEETPROOF_AGENT_" in line
    }
    assert documented == names


def test_every_setting_has_help_and_a_unique_name() -> None:
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)
    assert all(s.help.strip() for s in SETTINGS)


def test_precedence_default_file_env_flag(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[agent]\ninterval_s = 30\nlisten = "127.0.0.1:9999"\nsimulated_devices = 4\n')
    s = load_settings(
        cfg, env={"FLEETPROOF_AGENT_LISTEN": "127.0.0.1:9500"}, overrides={"simulated_devices": 2}
    )
    assert s.interval_s == 30.0 and s.sources["interval_s"] == str(cfg)
    assert s.listen == "127.0.0.1:9500" and s.sources["listen"] == "FLEETPROOF_AGENT_LISTEN"
    assert s.get("simulated_devices") == 2 and s.sources["simulated_devices"] == "command line"
    assert s.outbox_max_items == 20000 and s.sources["outbox_max_items"] == "default"


def test_defaults_listen_on_loopback_only() -> None:
    s = load_settings(env={})
    assert s.listen.startswith("127.0.0.1:") and s.server_url == ""


def test_flat_file_and_config_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text("interval_s = 5\n")
    assert load_settings(env={"FLEETPROOF_AGENT_CONFIG": str(cfg)}).interval_s == 5.0


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("interval_s = 'soon'\n", {}, "interval_s must be float"),
        ("intervall_s = 5\n", {}, "unknown setting 'intervall_s'"),
        ("interval_s = = 5\n", {}, "not valid TOML"),
        ("", {"FLEETPROOF_AGENT_OUTBOX_MAX_ITEMS": "lots"}, "FLEETPROOF_AGENT_OUTBOX_MAX_ITEMS"),
        ("", {"FLEETPROOF_AGENT_INTERVAL_S": "0"}, "greater than 0"),
        ("", {"FLEETPROOF_AGENT_SIMULATED_DEVICES": "-1"}, "must not be negative"),
    ],
)
def test_bad_settings_are_config_errors(
    tmp_path: Path, content: str, env: dict[str, str], message: str
) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg, env=env)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.toml", env={})


def test_state_dir_and_lists(tmp_path: Path) -> None:
    s = load_settings(
        env={"FLEETPROOF_AGENT_STATE_DIR": str(tmp_path), "FLEETPROOF_AGENT_DISK_PATHS": "/, /var ,"}
    )
    assert s.resolved_state_dir() == tmp_path
    assert s.list("disk_paths") == ["/", "/var"]
    assert load_settings(env={}).resolved_state_dir().parts[-2:] == ("fleetproof", "agent")
