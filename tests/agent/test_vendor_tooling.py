"""The shared vendor-tool runner, and how the agent survives a vendor tool that is missing, hangs or lies.

Real processes (this Python interpreter, and small scripts standing in for vendor tools on the
PATH) are used where the behaviour under test is the process handling itself; the one thing no
test can produce for real, a process that ignores SIGKILL, is a fake ``popen``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fleetproof.agent.__main__ import main as agent_main
from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors import registry
from fleetproof.agent.collectors.cambricon import CambriconCollector
from fleetproof.agent.collectors.intel import IntelCollector
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.collectors.tooling import (
    ToolCollector,
    ToolFailed,
    ToolGarbage,
    ToolMissing,
    ToolRunner,
    ToolTimeout,
)
from fleetproof.agent.runner import Agent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Every backend read through a vendor program, and the program each runs by default.
TOOLS = {
    name: factory.default_tool
    for name, factory in registry.registered().items()
    if isinstance(factory, type) and issubclass(factory, ToolCollector)
}
CLI_BACKENDS = tuple(sorted(TOOLS))


@pytest.fixture(autouse=True)
def _no_host_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`agent scan` reads its settings from the environment: none but a private state directory."""
    for key in [k for k in os.environ if k.startswith("FLEETPROOF_AGENT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("FLEETPROOF_AGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FLEETPROOF_AGENT_CONFIG", os.devnull)


def fake_tool(directory: Path, name: str, output_file: Path) -> None:
    """An executable named like the vendor tool that prints a recorded output."""
    script = directory / name
    script.write_text(f"#!/bin/sh\ncat '{output_file}'\n")
    script.chmod(0o755)


# -- the runner ------------------------------------------------------------------------------


def test_runner_returns_standard_output() -> None:
    out = ToolRunner(timeout_s=30)([sys.executable, "-c", "print('| 0 | MLU |')"])
    assert out == "| 0 | MLU |\n"


def test_runner_missing_program_is_not_found() -> None:
    with pytest.raises(ToolMissing, match="cnmon-not-installed: not found"):
        ToolRunner()(["cnmon-not-installed"])


def test_runner_failed_program_names_its_status_and_message() -> None:
    argv = [
        sys.executable,
        "-c",
        "import sys; sys.stderr.write('NVML-like: driver not loaded\\n'); sys.exit(9)",
    ]
    with pytest.raises(ToolFailed, match="exited with status 9: NVML-like: driver not loaded"):
        ToolRunner(timeout_s=30)(argv)


def test_runner_kills_a_hanging_program_at_its_deadline() -> None:
    runner = ToolRunner(timeout_s=0.3)
    with pytest.raises(ToolTimeout, match=r"no answer within 0\.3 s"):
        runner([sys.executable, "-c", "import time; time.sleep(120)"])
    assert runner([sys.executable, "-c", "print('next round')"]) == "next round\n"  # nothing left stuck


def test_runner_refuses_oversized_output() -> None:
    with pytest.raises(ToolGarbage, match="a status table is far smaller"):
        ToolRunner(timeout_s=30)([sys.executable, "-c", "print('x' * (5 * 2**20))"])


class _Unkillable:
    """A process stuck in the kernel: SIGKILL is delivered but it never exits."""

    pid = 4242
    returncode = None

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        import subprocess

        raise subprocess.TimeoutExpired("cnmon", timeout or 0)

    def kill(self) -> None:
        return None

    def poll(self) -> None:
        return None


def test_a_stuck_tool_costs_one_timeout_not_one_process_per_round() -> None:
    started: list[list[str]] = []

    def popen(argv: Sequence[str], **_: Any) -> _Unkillable:
        started.append(list(argv))
        return _Unkillable()

    runner = ToolRunner(timeout_s=0.01, kill_wait_s=0.01, popen=popen)
    with pytest.raises(ToolTimeout, match="no answer"):
        runner(["cnmon"])
    for _ in range(3):
        with pytest.raises(ToolTimeout, match=r"earlier run \(pid 4242\) is still stuck"):
            runner(["cnmon"])
    assert started == [["cnmon"]]


# -- the agent around it ---------------------------------------------------------------------


def _hanging(argv: Sequence[str]) -> str:
    raise ToolTimeout(f"{argv[0]}: no answer within 10 s (killed)")


def test_a_hanging_backend_fails_only_its_own_round() -> None:
    agent = Agent(
        collectors=[CambriconCollector(runner=_hanging), SimulatedCollector(devices=2, clock=lambda: 5.0)],
        components=create_all(),
        outbox=None,
        hostname="h",
    )
    results = agent.round()
    bad = [r for r in results if r.component == "collection" and r.state == "unhealthy"]
    assert [r.subject for r in bad] == ["backend cambricon"] and "no answer within" in bad[0].reason
    assert agent.state.inventory is not None and len(agent.state.inventory.accelerators) == 2
    agent.close()


def test_commands_are_fixed_read_only_queries() -> None:
    """Everything any collector runs, driven through a round with recorded outputs."""
    recorded = {
        ("npu-smi", "info"): "ascend/npu-smi-info_910b_8npu.txt",
        ("cnmon",): "cambricon/cnmon_mlu370-x8_2card_v5.10.13.txt",
        ("hy-smi",): "hygon/hy-smi_k100ai_4dcu.txt",
        ("mthreads-gmi",): "moorethreads/mthreads-gmi_s5000_8gpu_2.4.1.txt",
        ("xpu_smi",): "kunlunxin/xpu_smi_p800_8xpu.txt",
        ("ixsmi",): "iluvatar/ixsmi_bi-v150_16gpu_4.3.0.txt",
        ("mx-smi",): "metax/mx-smi_c550_8gpu_2.2.4.txt",
        ("efsmi",): "enflame/efsmi_t20_2dev_v1.20.0.txt",
        ("xpu-smi", "discovery", "-j"): "intel/xpu-smi_discovery_j.json",
        ("xpu-smi", "discovery", "-d", "0"): "intel/xpu-smi_discovery_d0.txt",
        ("xpu-smi", "stats", "-d", "0"): "intel/xpu-smi_stats_d0.txt",
    }
    seen: set[tuple[str, ...]] = set()

    def runner(argv: Sequence[str]) -> str:
        seen.add(tuple(argv))
        return (FIXTURES / recorded[tuple(argv)]).read_text(encoding="utf-8")

    for name in CLI_BACKENDS:
        assert registry.create(name, runner=runner).collect().devices
    assert seen == set(recorded)


# -- `agent scan` ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLI_BACKENDS)
def test_scan_of_a_backend_whose_tool_is_missing_exits_3(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert agent_main(["scan", "--backend", name]) == 3
    err = capsys.readouterr().err
    assert f"backend {name}: {TOOLS[name]}: not found" in err and "Traceback" not in err


@pytest.mark.parametrize("name", sorted(set(registry.registered()) - {"system", "simulated"}))
def test_scan_of_every_hardware_backend_on_this_machine_exits_3(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert agent_main(["scan", "--backend", name]) == 3
    err = capsys.readouterr().err
    assert f"backend {name}" in err and "Traceback" not in err


def test_scan_reads_a_vendor_tool_found_on_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_tool(bin_dir, "mx-smi", FIXTURES / "metax" / "mx-smi_c550_8gpu_2.2.4.txt")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert agent_main(["scan", "--backend", "metax", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    accelerators = doc["inventory"]["accelerators"]
    assert len(accelerators) == 8 and {a["vendor"] for a in accelerators} == {"metax"}
    assert accelerators[7]["bus_id"] == "0000:d7:00.0"


def test_auto_finds_the_vendor_tools_present(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fleetproof.agent.assemble import build_collectors
    from fleetproof.agent.config import load_settings

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_tool(bin_dir, "cnmon", FIXTURES / "cambricon" / "cnmon_mlu370-x8_2card_v5.10.13.txt")
    fake_tool(bin_dir, "ixsmi", FIXTURES / "iluvatar" / "ixsmi_bi-v150s_1gpu_4.0.0.txt")
    fake_tool(bin_dir, "efsmi", tmp_path / "missing-output")  # present but prints nothing: not a device
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    settings = load_settings(env={}, overrides={"backend": "auto", "state_dir": str(tmp_path), "listen": ""})
    names = [c.name for c in build_collectors(settings)]
    assert names == ["cambricon", "iluvatar", "system"]


def test_intel_tool_path_option() -> None:
    collector = IntelCollector(runner=lambda argv: "", intel_tool="/opt/xpum/bin/xpu-smi")
    assert collector.commands() == [["/opt/xpum/bin/xpu-smi", "discovery", "-j"]]
