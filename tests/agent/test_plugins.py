"""docs/agent.md, "Adding a health check or a backend", followed step by step.

A check module and a collector module are written into a package of their own (outside
fleetproof), added through the registry API the guide names, and ``agent scan`` runs with them:
their settings are real settings (file, environment, flags), the backend is read, the check
judges it, and the exit status follows.
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetproof.agent.__main__ import main as agent_main
from fleetproof.agent.checks import registry as check_registry
from fleetproof.agent.collectors import registry as collector_registry
from fleetproof.agent.config import load_settings
from fleetproof.errors import ConfigError

CHECK = '''
"""Fan speed: a fan below its floor cannot cool the board."""

from fleetproof.agent.checks.base import CheckContext, HealthResult, ok, result
from fleetproof.agent.setting import Setting

FAN_FLOOR = Setting("fan_floor_percent", 20.0, "Fan speed below which a device is degraded, percent.")


class FanFloor:
    name = "fan_floor"
    settings = (FAN_FLOOR,)

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        floor = ctx.threshold(FAN_FLOOR)
        slow = [d for d in ctx.devices if d.metrics.get("fan_percent", 100.0) < floor]
        why = "fan below {:.0f} %".format(floor)
        return [result(self.name, "degraded", why, "Check the fan.", d) for d in slow] or ok(
            self.name, "every fan above its floor"
        )
'''

COLLECTOR = '''
"""A board that reports only its fan, as much as the setting says."""

import time

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, Snapshot
from fleetproof.agent.setting import Option, Setting


class FanBoard:
    name = "fanboard"
    options = (Option(Setting("fanboard_fan", 55.0, "Fan speed the board reports, percent."), "fan"),)

    def __init__(self, fan: float = 55.0, clock=time.time, **_: object) -> None:
        self.fan, self.clock = fan, clock

    def available(self) -> bool:
        return True

    def collect(self) -> Snapshot:
        info = DeviceInfo(0, "fanboard", "FB-1", "FB-0001")
        return Snapshot(self.name, self.clock(), [DeviceReading(info, metrics={"fan_percent": self.fan})])

    def close(self) -> None:
        return None
'''


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The two modules in a package on sys.path, registered; the registries restored afterwards."""
    package = tmp_path / "site" / "acme_agent_plugins"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "fan_floor.py").write_text(textwrap.dedent(CHECK))
    (package / "fanboard.py").write_text(textwrap.dedent(COLLECTOR))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(check_registry, "_REGISTRY", copy.deepcopy(check_registry._REGISTRY))
    monkeypatch.setattr(collector_registry, "_REGISTRY", copy.deepcopy(collector_registry._REGISTRY))
    monkeypatch.setattr(collector_registry, "_OPTIONS", dict(collector_registry._OPTIONS))
    # The guide's two lines for a check and a backend kept outside fleetproof:
    check_registry.register("fan_floor", importlib.import_module("acme_agent_plugins.fan_floor").FanFloor)
    collector_registry.register("fanboard", importlib.import_module("acme_agent_plugins.fanboard").FanBoard)
    monkeypatch.setenv("FLEETPROOF_AGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FLEETPROOF_AGENT_CONFIG", str(tmp_path / "agent.toml"))
    (tmp_path / "agent.toml").write_text("# empty\n")
    yield
    for name in [m for m in sys.modules if m.startswith("acme_agent_plugins")]:
        del sys.modules[name]


def test_a_new_check_and_backend_run_in_agent_scan(plugins: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert agent_main(["scan", "--backend", "fanboard", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["inventory"]["accelerators"][0]["uuid"] == "FB-0001"
    fan = [h for h in doc["health"] if h["component"] == "fan_floor"]
    assert fan == [{**fan[0], "state": "healthy", "reason": "every fan above its floor"}]


def test_their_settings_are_settings(
    plugins: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "agent.toml").write_text("[agent]\nfan_floor_percent = 60\n")
    monkeypatch.setenv("FLEETPROOF_AGENT_FANBOARD_FAN", "40")
    assert agent_main(["scan", "--backend", "fanboard"]) == 4  # degraded
    out = capsys.readouterr().out
    assert "fan_floor device 0: fan below 60 %" in out
    settings = load_settings()
    assert settings.sources["fan_floor_percent"] == str(tmp_path / "agent.toml")
    assert settings.thresholds()["fan_floor_percent"] == 60.0
    assert settings.collector_options()["fanboard_fan"] == 40.0


def test_the_check_can_be_turned_off(plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETPROOF_AGENT_FANBOARD_FAN", "1")
    monkeypatch.setenv("FLEETPROOF_AGENT_DISABLED_CHECKS", "fan_floor")
    assert agent_main(["scan", "--backend", "fanboard"]) == 0


def test_a_name_taken_is_refused(plugins: None) -> None:
    fan_floor = importlib.import_module("acme_agent_plugins.fan_floor")
    with pytest.raises(ValueError, match="already registered"):
        check_registry.register("fan_floor", fan_floor.FanFloor)

    class Clash:
        name = "clash"
        settings = (fan_floor.Setting("interval_s", 1.0, "Not the agent's interval."),)

    check_registry.register("clash", Clash)
    with pytest.raises(ConfigError, match=r"declared twice.*interval_s"):
        load_settings(env={})
