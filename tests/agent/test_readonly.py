"""The agent is read-only by design: it changes nothing on the host and runs no command from outside.

Three angles: the source (no state-changing vendor calls, no shells, processes started
only by the shared vendor-tool runner), the NVIDIA collector's actual NVML calls, and
the HTTP endpoints (only GET and HEAD).
"""

from __future__ import annotations

import ast
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors.nvidia import NvidiaCollector
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.export.http import ExporterServer
from fleetproof.agent.runner import Agent

AGENT = Path(__file__).resolve().parents[2] / "src" / "fleetproof" / "agent"
# Written by the fleet-server part (the HTTP client and enrolment); they talk to the server, not the host.
NOT_OURS = {"client.py", "enroll_cli.py"}
MUTATING = re.compile(
    r"nvmlDevice(Set|Reset|Clear|Modify|Power)\w*|nvml(Unit|System)Set\w*|amdsmi_(set|reset|gpu_reset|clean)\w*"
    r"|hlml\w*(Set|Reset|Clear|Inject)\w*|rsmi_dev_\w*_set\w*"
)
FORBIDDEN_CALLS = {"system", "popen", "Popen", "call", "check_call", "check_output", "execv", "execvp"}
FORBIDDEN_CALLS |= {"spawnv", "fork", "kill", "killpg", "remove", "unlink", "rmtree", "chmod", "chown"}


def _sources() -> list[Path]:
    return sorted(p for p in AGENT.rglob("*.py") if p.name not in NOT_OURS)


def _call_name(func: ast.expr) -> tuple[str, str]:
    if isinstance(func, ast.Attribute):
        return getattr(func.value, "id", ""), func.attr
    if isinstance(func, ast.Name):
        return "", func.id
    return "", ""


def _violations(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = [f"{path.name}: mentions {m.group(0)}" for m in MUTATING.finditer(text)]
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Call):
            continue
        owner, name = _call_name(node.func)
        if owner in {"os", "subprocess", "shutil"} and name in FORBIDDEN_CALLS:
            found.append(f"{path.name}:{node.lineno} calls {owner}.{name}()")
        if not owner and name in {"exec", "eval", "__import__"}:
            found.append(f"{path.name}:{node.lineno} calls {name}()")
        if any(kw.arg == "shell" for kw in node.keywords):
            found.append(f"{path.name}:{node.lineno} uses shell=")
        if owner == "subprocess" and name == "run":
            found.append(f"{path.name}:{node.lineno} runs a process")
    return found


def test_agent_source_changes_nothing_and_runs_no_commands() -> None:
    found = [v for p in _sources() for v in _violations(p)]
    assert found == [], found


def test_processes_are_started_in_one_place() -> None:
    """Only the shared vendor-tool runner (collectors/tooling.py) may start a process; what the
    collectors run through it is pinned in tests/agent/test_vendor_tooling.py."""
    starters = sorted(
        p.name
        for p in _sources()
        if re.search(r"subprocess\.(Popen|run|call|check_call|check_output)\b", p.read_text(encoding="utf-8"))
    )
    assert starters == ["tooling.py"]


def test_guard_catches_mutation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os, subprocess\nnv.nvmlDeviceSetPowerManagementLimit(h, 1)\nos.system('reboot')\n"
        "subprocess.check_call(['nvidia-smi', '-r'])\neval('1')\n"
    )
    assert len(_violations(bad)) == 4


def test_nvidia_collector_only_calls_getters(fake_nvml: Any) -> None:
    collector = NvidiaCollector(nvml=fake_nvml)
    collector.available()
    for _ in range(2):
        collector.collect()
    fake_nvml.events.append((0, 79))
    collector.collect()
    collector.close()
    allowed = re.compile(
        r"nvml(Init|Shutdown|SystemGet\w+|DeviceGet\w+|EventSet(Create|Wait_v2|Free)|DeviceRegisterEvents)$"
    )
    assert fake_nvml.calls and all(allowed.match(c) for c in fake_nvml.calls), sorted(set(fake_nvml.calls))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_endpoints_refuse_anything_but_reads(method: str) -> None:
    agent = Agent(
        collectors=[SimulatedCollector(devices=1)], components=create_all(), outbox=None, hostname="h"
    )
    server = ExporterServer(agent.state, "h", "127.0.0.1", 0)
    server.start()
    try:
        host, port = server.address
        req = urllib.request.Request(f"http://{host}:{port}/v1/health", data=b"{}", method=method)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 405 and err.value.headers["Allow"] == "GET, HEAD"
    finally:
        server.stop()
