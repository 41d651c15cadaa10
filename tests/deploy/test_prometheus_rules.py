"""deploy/prometheus: the rule files pass `promtool check rules`, their unit tests pass
`promtool test rules`, and every metric they use is one fleetproof exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.deploy.conftest import DEPLOY, require_tool

from fleetproof.agent.export.metric_names import all_metric_names

PROM = DEPLOY / "prometheus"
RULE_FILES = ("recording-rules.yml", "alerts.yml")
SERVER_METRICS = {
    "fleetproof_server_hosts",
    "fleetproof_server_hosts_by_health",
    "fleetproof_server_open_alerts",
    "fleetproof_server_verdict_queue",
    "fleetproof_server_requests_total",
    "fleetproof_server_request_duration_seconds",
    "fleetproof_server_ingest_items_total",
    "fleetproof_server_verdicts_total",
}


def _promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    promtool = require_tool("promtool", "apt-get install prometheus")
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", RULE_FILES)
def test_rules_are_valid(name: str) -> None:
    res = _promtool("check", "rules", name)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", ["recording-rules.test.yml", "alerts.test.yml"])
def test_rule_unit_tests_pass(name: str) -> None:
    res = _promtool("test", "rules", name, cwd=PROM / "tests")
    assert res.returncode == 0, res.stdout + res.stderr


def test_unit_tests_catch_a_wrong_unit(tmp_path: Path) -> None:
    """The recording-rule tests can fail: MiB computed as MB is caught."""
    shutil.copytree(PROM, tmp_path / "prometheus")
    rules = tmp_path / "prometheus" / "recording-rules.yml"
    text = rules.read_text()
    assert "/ 1048576" in text
    rules.write_text(text.replace("/ 1048576", "/ 1000000"))
    res = _promtool("test", "rules", "recording-rules.test.yml", cwd=tmp_path / "prometheus" / "tests")
    assert res.returncode != 0 and "DCGM_FI_DEV_FB_USED" in res.stdout + res.stderr


def test_rules_use_only_metrics_fleetproof_exports() -> None:
    known = all_metric_names() | SERVER_METRICS | {"up"}
    for name in RULE_FILES:
        text = (PROM / name).read_text()
        exprs = re.findall(r"expr: [|>]-?\n((?:\s{10,}.*\n)+)|expr: (.+)", text)
        used = set()
        for block, line in exprs:
            used |= set(re.findall(r"\b(fleetproof_[a-z0-9_]+|up)\b", block or line))
        assert used and used <= known, used - known


def test_dcgm_names_cover_the_requested_fields() -> None:
    text = (PROM / "recording-rules.yml").read_text()
    for field in (
        "GPU_TEMP",
        "POWER_USAGE",
        "SM_CLOCK",
        "MEM_CLOCK",
        "FB_USED",
        "FB_FREE",
        "GPU_UTIL",
        "XID_ERRORS",
        "TOTAL_ENERGY_CONSUMPTION",
    ):
        assert f"record: DCGM_FI_DEV_{field}\n" in text, field
