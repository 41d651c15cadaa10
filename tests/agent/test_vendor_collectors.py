"""The command-line vendor collectors against public recorded outputs (tests/fixtures/<vendor>/README.md).

Each expected value below was read off the recorded output by eye, not computed by the parser,
so a test fails when a parser reads the wrong column. A few tests change one value of a
recording to reach a health branch; they say so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from fleetproof.agent.checks.base import CheckContext
from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors import base, registry
from fleetproof.agent.collectors.base import DeviceReading, Snapshot
from fleetproof.agent.collectors.cambricon import CambriconCollector, parse_cnmon
from fleetproof.agent.collectors.enflame import EnflameCollector, parse_efsmi
from fleetproof.agent.collectors.hygon import HygonCollector, parse_hy_smi
from fleetproof.agent.collectors.iluvatar import IluvatarCollector, parse_ixsmi
from fleetproof.agent.collectors.intel import IntelCollector, parse_stats
from fleetproof.agent.collectors.kunlunxin import KunlunxinCollector, parse_xpu_smi
from fleetproof.agent.collectors.metax import MetaxCollector, parse_mx_smi
from fleetproof.agent.collectors.moorethreads import parse_mthreads_gmi
from fleetproof.agent.collectors.tooling import ToolGarbage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MIB = 2**20
NEW_BACKENDS = ("cambricon", "hygon", "moorethreads", "kunlunxin", "iluvatar", "metax", "enflame", "intel")


def fixture(relative: str) -> str:
    return (FIXTURES / relative).read_text(encoding="utf-8")


def metrics(spec: str) -> dict[str, float]:
    """Expected metrics written as ``key=value`` words; a value ending in MiB is in bytes."""
    pairs = (word.split("=") for word in spec.split())
    return {k: float(v[:-3]) * MIB if v.endswith("MiB") else float(v) for k, v in pairs}


def recording_runner(outputs: dict[tuple[str, ...], str]) -> tuple[list[list[str]], Callable[..., str]]:
    calls: list[list[str]] = []

    def run(argv: Sequence[str]) -> str:
        calls.append(list(argv))
        return outputs[tuple(argv)]

    return calls, run


def health(devices: list[DeviceReading], collector: str = "x") -> dict[str, list[str]]:
    """State per component for one round of these readings."""
    ctx = CheckContext(time=100.0, snapshots=[Snapshot(collector=collector, time=100.0, devices=devices)])
    states: dict[str, list[str]] = {}
    for component in create_all():
        states[component.name] = [r.state for r in component.check(ctx)]
    return states


# -- Cambricon ------------------------------------------------------------------------------


def test_cnmon_table() -> None:
    a, b = parse_cnmon(fixture("cambricon/cnmon_mlu370-x8_2card_v5.10.13.txt"))
    assert a.info.model == "MLU370-X8" and a.info.firmware_version == "v1.1.6"
    assert a.info.driver_version == "5.10.13" and a.info.bus_id == "0000:39:00.0"
    assert a.info.uuid == "MLU-0000:39:00.0" and b.info.uuid == "MLU-0000:3D:00.0"
    assert a.metrics == metrics(
        "fan_speed_percent=0 temperature_c=32 power_w=106 power_limit_w=250 "
        "utilization_percent=0 memory_used_bytes=0 memory_total_bytes=23374MiB"
    )
    assert b.metrics["temperature_c"] == 39
    assert "ecc_errors_total" not in a.metrics  # the column reads N/A


def test_cambricon_collector_runs_plain_cnmon() -> None:
    calls, run = recording_runner({("cnmon",): fixture("cambricon/cnmon_mlu370-x8_2card_v5.10.13.txt")})
    collector = CambriconCollector(runner=run, clock=lambda: 7.0)
    assert collector.available()
    snap = collector.collect()
    assert snap.time == 7.0 and len(snap.devices) == 2 and calls == [["cnmon"], ["cnmon"]]
    assert CambriconCollector(runner=run, cambricon_tool="/usr/bin/cnmon").commands() == [["/usr/bin/cnmon"]]


# -- Hygon -----------------------------------------------------------------------------------


def test_hy_smi_table() -> None:
    dcus = parse_hy_smi(fixture("hygon/hy-smi_k100ai_4dcu.txt"))
    assert [d.info.uuid for d in dcus] == ["DCU-0", "DCU-1", "DCU-2", "DCU-3"]
    assert dcus[3].metrics == metrics(
        "temperature_c=49 power_w=138 power_limit_w=800 vram_used_percent=0 utilization_percent=0"
    )
    assert dcus[0].info.model == "Hygon DCU" and dcus[0].info.driver_version is None


def test_hy_smi_older_layout_with_fan_column() -> None:
    dcus = parse_hy_smi(fixture("hygon/rocm-smi_z100l_8dcu_fan.txt"))
    assert len(dcus) == 8
    assert dcus[0].metrics["vram_used_percent"] == 37 and dcus[0].metrics["fan_speed_percent"] == 0
    assert dcus[3].metrics["temperature_c"] == 30 and dcus[2].metrics["power_w"] == 36
    assert HygonCollector(runner=lambda argv: "").commands() == [["hy-smi"]]


# -- Moore Threads ---------------------------------------------------------------------------


def test_mthreads_gmi_table() -> None:
    gpus = parse_mthreads_gmi(fixture("moorethreads/mthreads-gmi_s5000_8gpu_2.4.1.txt"))
    assert len(gpus) == 8
    first, sixth = gpus[0], gpus[5]
    assert first.info.model == "MTT S5000" and first.info.driver_version == "5.1.0-server"
    assert first.info.uuid == "MTGPU-00000000:18:00.0" and sixth.info.bus_id == "00000000:ba:00.0"
    assert sixth.metrics == metrics(
        "utilization_percent=0 memory_used_bytes=0 memory_total_bytes=81920MiB "
        "temperature_c=50 pcie_link_width=16 pcie_link_width_max=16"
    )
    assert "power_w" not in first.metrics  # not in the table: unread, not zero


# -- Kunlunxin -------------------------------------------------------------------------------


def test_xpu_smi_table() -> None:
    xpus = parse_xpu_smi(fixture("kunlunxin/xpu_smi_p800_8xpu.txt"))
    assert len(xpus) == 8
    x = xpus[6]
    assert x.info.model == "Kunlunxin P800 OAM" and x.info.driver_version == "5.0.21.21"
    assert x.info.uuid == "XPU-00000000:A3:00.0"
    assert x.metrics == metrics(
        "temperature_c=39 power_w=90 power_limit_w=400 ecc_volatile_uncorrected_total=0 "
        "utilization_percent=0 memory_used_bytes=0 memory_total_bytes=98304MiB "
        "l3_memory_used_bytes=0 l3_memory_total_bytes=96MiB"
    )


def test_xpu_smi_uncorrectable_ecc_makes_the_device_unhealthy() -> None:
    # The recording with device 2's "Volatile Uncorr. ECC" cell changed from 0 to 3.
    text = fixture("kunlunxin/xpu_smi_p800_8xpu.txt").replace(
        "|   2  P800 OAM           N/A   | 00000000:63:00.0 N/A |                    0 |",
        "|   2  P800 OAM           N/A   | 00000000:63:00.0 N/A |                    3 |",
    )
    xpus = parse_xpu_smi(text)
    assert xpus[2].metrics["ecc_volatile_uncorrected_total"] == 3
    assert health(xpus)["ecc"] == ["unhealthy"]
    assert KunlunxinCollector(runner=lambda argv: text).commands() == [["xpu_smi"]]


# -- Iluvatar --------------------------------------------------------------------------------


def test_ixsmi_two_chip_boards_report_power_on_one_chip() -> None:
    gpus = parse_ixsmi(fixture("iluvatar/ixsmi_bi-v150_16gpu_4.3.0.txt"))
    assert len(gpus) == 16
    even, odd = gpus[10], gpus[11]
    assert even.info.model == "Iluvatar BI-V150" and even.info.uuid == "GPU-00000000:48:00.0"
    assert "power_w" not in even.metrics and "power_limit_w" not in even.metrics  # "N/A / N/A"
    assert odd.metrics == metrics(
        "temperature_c=33 power_w=103 power_limit_w=350 clock_sm_mhz=1500 "
        "clock_memory_mhz=1600 utilization_percent=0 memory_used_bytes=64MiB "
        "memory_total_bytes=32768MiB"
    )
    assert odd.info.driver_version == "4.3.0"


def test_ixsmi_single_gpu_from_the_device_plugin_readme() -> None:
    (gpu,) = parse_ixsmi(fixture("iluvatar/ixsmi_bi-v150s_1gpu_4.0.0.txt"))
    assert gpu.info.model == "Iluvatar BI-V150S" and gpu.info.driver_version == "4.1.0"
    assert gpu.metrics["fan_speed_percent"] == 0 and gpu.metrics["clock_sm_mhz"] == 500
    assert gpu.metrics["memory_used_bytes"] == 114 * MIB
    assert IluvatarCollector(runner=lambda argv: "").commands() == [["ixsmi"]]


# -- MetaX -----------------------------------------------------------------------------------


def test_mx_smi_table() -> None:
    gpus = parse_mx_smi(fixture("metax/mx-smi_c550_8gpu_2.2.4.txt"))
    assert len(gpus) == 8
    g = gpus[5]
    assert g.info.model == "MetaX C550" and g.info.bus_id == "0000:ae:00.0"
    assert g.info.driver_version == "2.15.9" and g.info.firmware_version == "1.25.1.0"
    assert g.metrics == metrics(
        "temperature_c=32 power_w=55 power_limit_w=450 utilization_percent=0 "
        "memory_used_bytes=858MiB memory_total_bytes=65536MiB"
    )


def test_mx_smi_other_layout_is_refused_not_misread() -> None:
    # The recording with its second header row in the 2.1 wording ("Power" instead of "Pwr:Usage/Cap").
    text = fixture("metax/mx-smi_c550_8gpu_2.2.4.txt").replace(
        "| Temp        Pwr:Usage/Cap          |", "| Temp        Power                  |"
    )
    with pytest.raises(ToolGarbage, match="unsupported table layout"):
        parse_mx_smi(text)
    collector = MetaxCollector(runner=lambda argv: text)
    assert not collector.available() and "unsupported table layout" in str(collector.unavailable_reason)


# -- Enflame ---------------------------------------------------------------------------------


def test_efsmi_table() -> None:
    a, b = parse_efsmi(fixture("enflame/efsmi_t20_2dev_v1.20.0.txt"))
    assert a.info.model == "Enflame T20" and a.info.uuid == "W28001210504" and b.info.uuid == "W28001010604"
    assert a.info.driver_version == "2.4.20230829" and a.info.firmware_version == "10.19.3"
    assert a.info.bus_id == "00:3d:0.0"
    assert a.metrics == metrics(
        "temperature_c=30 power_w=48 power_limit_w=300 utilization_percent=0 memory_total_bytes=32768MiB"
    )
    assert EnflameCollector(runner=lambda argv: "").commands() == [["efsmi"]]


# -- Intel -----------------------------------------------------------------------------------


INTEL = {
    ("xpu-smi", "discovery", "-j"): "intel/xpu-smi_discovery_j.json",
    ("xpu-smi", "discovery", "-d", "0"): "intel/xpu-smi_discovery_d0.txt",
    ("xpu-smi", "stats", "-d", "0"): "intel/xpu-smi_stats_d0.txt",
}


def test_intel_collector_reads_the_documented_tables() -> None:
    calls, run = recording_runner({k: fixture(v) for k, v in INTEL.items()})
    (gpu,) = IntelCollector(runner=run).collect().devices
    assert calls == [list(k) for k in INTEL]
    assert gpu.info.model == "Intel(R) Graphics [0x020a]"
    assert gpu.info.uuid == "00000000-0000-0000-0000-020a00008086" and gpu.info.bus_id == "0000:4d:00.0"
    assert gpu.info.driver_version == "16929133" and gpu.info.firmware_version == "ATS0_1.1"
    assert gpu.info.serial is None  # "Serial Number: unknown"
    assert gpu.info.memory_total_bytes == 32768 * MIB
    m = gpu.metrics
    assert (m["utilization_percent"], m["power_w"], m["clock_sm_mhz"], m["temperature_c"]) == (
        0,
        15,
        2050,
        41,
    )
    assert m["memory_used_bytes"] == 24 * MIB and m["ecc_volatile_uncorrected_total"] == 0
    assert "memory_temperature_c" not in m  # empty in the example


def test_intel_memory_errors_feed_the_ecc_check() -> None:
    # The recording with "Mem Errors Uncorrectable" changed from 0 to 2.
    stats = fixture("intel/xpu-smi_stats_d0.txt").replace(
        "| Mem Errors Uncorrectable    | 0 ", "| Mem Errors Uncorrectable    | 2 "
    )
    assert parse_stats(stats)["ecc_volatile_uncorrected_total"] == 2
    outputs = {k: fixture(v) for k, v in INTEL.items()} | {("xpu-smi", "stats", "-d", "0"): stats}
    devices = IntelCollector(runner=recording_runner(outputs)[1]).collect().devices
    assert health(devices)["ecc"] == ["unhealthy"]


def test_intel_discovery_that_is_not_json_is_garbage() -> None:
    collector = IntelCollector(runner=lambda argv: "Segmentation fault\n")
    assert not collector.available() and "not JSON" in str(collector.unavailable_reason)


# -- all of them -----------------------------------------------------------------------------


RECORDINGS = {
    "cambricon": "cambricon/cnmon_mlu370-x8_2card_v5.10.13.txt",
    "hygon": "hygon/hy-smi_k100ai_4dcu.txt",
    "moorethreads": "moorethreads/mthreads-gmi_s5000_8gpu_2.4.1.txt",
    "kunlunxin": "kunlunxin/xpu_smi_p800_8xpu.txt",
    "iluvatar": "iluvatar/ixsmi_bi-v150_16gpu_4.3.0.txt",
    "metax": "metax/mx-smi_c550_8gpu_2.2.4.txt",
    "enflame": "enflame/efsmi_t20_2dev_v1.20.0.txt",
}


def test_every_new_backend_is_registered_and_satisfies_the_protocol() -> None:
    assert set(NEW_BACKENDS) <= set(registry.registered())
    for name in NEW_BACKENDS:
        collector = registry.create(name, runner=lambda argv: "")
        assert isinstance(collector, base.Collector) and collector.name == name


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_recorded_hosts_are_healthy_and_use_the_shared_metric_names(name: str) -> None:
    text = fixture(RECORDINGS[name])
    devices = registry.create(name, runner=lambda argv: text).collect().devices
    assert devices and all(d.info.vendor == name for d in devices)
    assert len({d.info.uuid for d in devices}) == len(devices)
    states = health(devices, name)
    assert all(s == "healthy" for results in states.values() for s in results), states
    for d in devices:
        assert {"temperature_c", "utilization_percent"} <= set(d.metrics)


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_a_hot_device_is_degraded_through_the_shared_threshold(name: str) -> None:
    devices = registry.create(name, runner=lambda argv: fixture(RECORDINGS[name])).collect().devices
    devices[0].metrics["temperature_c"] = 95.0  # as if the table had read 95C
    assert health(devices, name)["throttling"] == ["degraded"]


@pytest.mark.parametrize("name", NEW_BACKENDS)
@pytest.mark.parametrize(
    "garbage", ["", "\x00\x01garbage\n", "| 0 | half a row\n", "Error: driver not loaded\n"]
)
def test_garbage_output_fails_that_round_cleanly(name: str, garbage: str) -> None:
    collector = registry.create(name, runner=lambda argv: garbage)
    assert collector.available() is False and collector.unavailable_reason
    snap = base.collect_safely(collector, clock=lambda: 1.0)
    assert snap.error and snap.devices == []


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_a_simulated_host_of_a_vendor_shows_only_what_its_tool_shows(name: str) -> None:
    from fleetproof.agent.collectors.simulated import SimulatedCollector

    text = fixture(RECORDINGS[name])
    real = registry.create(name, runner=lambda argv: text).collect().devices
    simulated = SimulatedCollector(devices=4, vendor=name, clock=lambda: 0.0).collect().devices
    real_keys = set().union(*(d.metrics for d in real))
    assert set().union(*(d.metrics for d in simulated)) <= real_keys
    assert all(d.info.vendor == name for d in simulated)
    # the id has the real collector's form: the same prefix, and no UUID where the tool shows none

    def form(uuid: str) -> str:
        return re.sub(r"[0-9A-Fa-f]", "x", uuid.split("-")[0])

    assert {form(d.info.uuid) for d in simulated} == {form(d.info.uuid) for d in real}
    assert (simulated[0].info.bus_id is None) == (real[0].info.bus_id is None)


def test_simulated_iluvatar_reports_power_on_one_chip_of_two_like_the_recording() -> None:
    from fleetproof.agent.collectors.simulated import SimulatedCollector

    devices = SimulatedCollector(devices=4, vendor="iluvatar", clock=lambda: 0.0).collect().devices
    assert ["power_w" in d.metrics for d in devices] == [False, True, False, True]
