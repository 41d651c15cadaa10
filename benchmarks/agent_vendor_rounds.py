"""CPU the agent spends on one round of 8 devices per vendor backend, beyond the vendor tool's own run.

Each command-line backend reads its public recording (tests/fixtures/<vendor>/) through a fake
runner that answers at once, so all CPU measured is the agent's: parsing, building readings,
and (for "round") the health checks of a full `Agent.round()` with that one backend. The
recordings hold 1 to 16 devices; each is brought to 8 by repeating or dropping whole device
blocks of the recording (the rows stay as recorded, so parsing work per device is real). The
baseline, in the same run, is the simulated backend with 8 devices, which parses nothing.

Also measured: the agent's own CPU for starting one real process through the shared runner
(`ToolRunner` running `cat` on the recording), the part of a real tool's cost that falls on
the agent rather than on the tool.

    PYTHONPATH=src python benchmarks/agent_vendor_rounds.py --rounds 200
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fleetproof.agent.checks.registry import create_all  # noqa: E402
from fleetproof.agent.collectors import registry  # noqa: E402
from fleetproof.agent.collectors.simulated import SimulatedCollector  # noqa: E402
from fleetproof.agent.collectors.tooling import ToolRunner  # noqa: E402
from fleetproof.agent.runner import Agent  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
DEVICES = 8
TARGET_MS = 50.0
RECORDINGS = {
    "ascend": "ascend/npu-smi-info_910b_8npu.txt",
    "cambricon": "cambricon/cnmon_mlu370-x8_2card_v5.10.13.txt",
    "hygon": "hygon/rocm-smi_z100l_8dcu_fan.txt",
    "moorethreads": "moorethreads/mthreads-gmi_s5000_8gpu_2.4.1.txt",
    "kunlunxin": "kunlunxin/xpu_smi_p800_8xpu.txt",
    "iluvatar": "iluvatar/ixsmi_bi-v150_16gpu_4.3.0.txt",
    "metax": "metax/mx-smi_c550_8gpu_2.2.4.txt",
    "enflame": "enflame/efsmi_t20_2dev_v1.20.0.txt",
}


def eight_devices(text: str, first_device: re.Pattern[str], rows: int) -> str:
    """The recording with its device blocks cycled or cut to 8: ``rows`` lines from each match of
    ``first_device`` (a device's first line) form one block."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if first_device.match(line)]
    blocks = [lines[i : i + rows] for i in starts]
    body = [line for k in range(DEVICES) for line in blocks[k % len(blocks)]]
    return "".join(lines[: starts[0]] + body + lines[starts[-1] + rows :])


# first line of a device and lines per device (with its rule line), per recording
BLOCKS = {
    "cambricon": (re.compile(r"^\| \d+ +/"), 3),
    "iluvatar": (re.compile(r"^\| \d+ +Iluvatar"), 3),
    "enflame": (re.compile(r"^\* \d+ +T20"), 4),
}


def recorded_outputs() -> dict[str, dict[tuple[str, ...], str]]:
    out: dict[str, dict[tuple[str, ...], str]] = {}
    for name, rel in RECORDINGS.items():
        text = (FIXTURES / rel).read_text(encoding="utf-8")
        if name in BLOCKS:
            text = eight_devices(text, *BLOCKS[name])
        factory: Any = registry.registered()[name]
        out[name] = {tuple(factory(runner=lambda a: "").commands()[0]): text}
    listing = json.loads((FIXTURES / "intel/xpu-smi_discovery_j.json").read_text())
    device = listing["device_list"][0]
    listing["device_list"] = [dict(device, device_id=i) for i in range(DEVICES)]
    intel = {("xpu-smi", "discovery", "-j"): json.dumps(listing)}
    for i in range(DEVICES):
        intel[("xpu-smi", "discovery", "-d", str(i))] = (
            FIXTURES / "intel/xpu-smi_discovery_d0.txt"
        ).read_text()
        intel[("xpu-smi", "stats", "-d", str(i))] = (FIXTURES / "intel/xpu-smi_stats_d0.txt").read_text()
    out["intel"] = intel
    return out


def cpu_ms(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median and 95th percentile of process CPU time per call, milliseconds."""
    fn()
    samples = []
    for _ in range(rounds):
        c0 = time.process_time()
        fn()
        samples.append((time.process_time() - c0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def measure(make: Callable[[], Any], rounds: int) -> dict[str, float]:
    collector = make()
    n = len(collector.collect().devices)
    agent = Agent(collectors=[make()], components=create_all(), outbox=None, hostname="bench")
    collect_med, collect_p95 = cpu_ms(collector.collect, rounds)
    round_med, round_p95 = cpu_ms(agent.round, rounds)
    agent.close()
    return {
        "devices": n,
        "collect_cpu_ms_median": round(collect_med, 3),
        "collect_cpu_ms_p95": round(collect_p95, 3),
        "round_cpu_ms_median": round(round_med, 3),
        "round_cpu_ms_p95": round(round_p95, 3),
    }


def spawn_cost(rounds: int) -> dict[str, float] | None:
    cat = shutil.which("cat")
    if cat is None:
        return None
    runner = ToolRunner(timeout_s=10)
    argv: Sequence[str] = [cat, str(FIXTURES / RECORDINGS["kunlunxin"])]
    med, p95 = cpu_ms(lambda: runner(argv), rounds)
    return {"agent_cpu_ms_median": round(med, 3), "agent_cpu_ms_p95": round(p95, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    results: dict[str, Any] = {
        "baseline simulated": measure(lambda: SimulatedCollector(devices=DEVICES), args.rounds)
    }
    for name, outputs in recorded_outputs().items():
        results[name] = measure(
            lambda n=name, o=outputs: registry.create(n, runner=lambda argv: o[tuple(argv)]), args.rounds
        )
    base_round = results["baseline simulated"]["round_cpu_ms_median"]
    for row in results.values():
        row["round_over_baseline_ratio"] = round(row["round_cpu_ms_median"] / base_round, 2)
    worst = max(r["round_cpu_ms_p95"] for k, r in results.items() if k != "baseline simulated")
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "results": results,
                "one_process_through_the_runner": spawn_cost(min(args.rounds, 50)),
                "worst_round_cpu_ms_p95": worst,
                "target_ms": TARGET_MS,
                "met": worst <= TARGET_MS,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
