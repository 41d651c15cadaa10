from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fleetproof.agent.collectors import base, registry
from fleetproof.agent.collectors.amd import AmdCollector
from fleetproof.agent.collectors.ascend import AscendCollector, parse_npu_smi_info
from fleetproof.agent.collectors.gaudi import GaudiCollector
from fleetproof.agent.collectors.nvidia import NvidiaCollector, parse_kernel_xid
from fleetproof.agent.collectors.simulated import Fault, SimulatedCollector, parse_faults
from fleetproof.agent.collectors.system import SystemCollector
from fleetproof.errors import ConfigError

# -- registry ---------------------------------------------------------------


def test_registry_has_builtins_and_rejects_duplicates() -> None:
    names = set(registry.registered())
    assert {"nvidia", "amd", "gaudi", "ascend", "system", "simulated"} <= names
    with pytest.raises(ValueError, match="already registered"):
        registry.register("simulated", SimulatedCollector)


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="known backends"):
        registry.create("tpu9000")


def test_collectors_satisfy_the_protocol(fake_nvml: Any) -> None:
    for collector in (SimulatedCollector(devices=1), NvidiaCollector(nvml=fake_nvml), SystemCollector()):
        assert isinstance(collector, base.Collector)


def test_collect_safely_turns_exceptions_into_errors() -> None:
    class Broken:
        name = "broken"

        def available(self) -> bool:
            return True

        def collect(self) -> base.Snapshot:
            raise OSError("driver went away")

        def close(self) -> None:
            return None

    snap = base.collect_safely(Broken(), clock=lambda: 5.0)
    assert snap.error == "OSError: driver went away"
    assert snap.time == 5.0


# -- guarded vendor imports ---------------------------------------------------


@pytest.mark.parametrize(
    "exc", [ImportError("no module"), KeyError("HOME"), OSError("libamd_smi.so missing")]
)
def test_vendor_import_failures_make_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    import fleetproof.agent.collectors.amd as amd
    import fleetproof.agent.collectors.gaudi as gaudi
    import fleetproof.agent.collectors.nvidia as nvidia

    def boom() -> Any:
        raise exc

    monkeypatch.setattr(nvidia, "_import_pynvml", boom)
    monkeypatch.setattr(amd, "_import_amdsmi", boom)
    monkeypatch.setattr(gaudi, "_import_pyhlml", boom)
    assert not NvidiaCollector().available()
    assert not AmdCollector().available()
    assert not GaudiCollector().available()
    assert registry.available_backends() == [] or all(n == "ascend" for n in registry.available_backends())


def test_real_vendor_stacks_never_raise_from_available() -> None:
    # On a host without drivers pynvml imports but nvmlInit fails; amdsmi/pyhlml are not installed.
    for collector in (NvidiaCollector(), AmdCollector(), GaudiCollector(), AscendCollector()):
        assert isinstance(collector.available(), bool)
        collector.close()


# -- simulated ------------------------------------------------------------------


def test_simulated_is_deterministic() -> None:
    a = SimulatedCollector(devices=8, seed=7, clock=lambda: 100.0)
    b = SimulatedCollector(devices=8, seed=7, clock=lambda: 100.0)
    for _ in range(3):
        sa, sb = a.collect(), b.collect()
        assert [d.metrics for d in sa.devices] == [d.metrics for d in sb.devices]
    c = SimulatedCollector(devices=8, seed=8, clock=lambda: 100.0)
    assert [d.metrics for d in c.collect().devices] != [d.metrics for d in a.collect().devices]
    assert len({d.info.uuid for d in a.collect().devices}) == 8


def test_fault_parsing() -> None:
    assert parse_faults("xid79@2+30, thermal@1,power") == [
        Fault("xid", 2, 30.0, 79),
        Fault("thermal", 1, 0.0),
        Fault("power", 0, 0.0),
    ]
    for bad in ("meltdown@1", "xid@1", "thermal@x", "xid79@1+soon"):
        with pytest.raises(ConfigError, match="bad simulated fault"):
            parse_faults(bad)
    with pytest.raises(ConfigError, match="names device 9"):
        SimulatedCollector(devices=2, faults="thermal@9")


def test_simulated_faults_start_after_their_delay() -> None:
    now = [0.0]
    sim = SimulatedCollector(devices=4, faults="xid48@1+20,thermal@2+20,off_bus@3+40", clock=lambda: now[0])
    first = sim.collect()
    assert not any(d.xid_events or d.throttle_reasons or d.lost for d in first.devices)
    now[0] = 25.0
    second = sim.collect()
    assert [e.code for e in second.devices[1].xid_events] == [48]
    assert "hw_thermal_slowdown" in second.devices[2].throttle_reasons
    assert second.devices[2].metrics["temperature_c"] >= 92
    now[0] = 30.0
    assert sim.collect().devices[1].xid_events == []  # an Xid is one event, not a state
    now[0] = 45.0
    gone = sim.collect().devices[3]
    assert gone.lost and gone.metrics == {} and [e.code for e in gone.xid_events] == [79]


def test_simulated_ecc_storm_and_dbe() -> None:
    sim = SimulatedCollector(devices=2, faults="ecc_storm@0,ecc_dbe@1", clock=lambda: 0.0)
    a = sim.collect()
    b = sim.collect()
    assert (
        b.devices[0].metrics["ecc_volatile_corrected_total"]
        - a.devices[0].metrics["ecc_volatile_corrected_total"]
        >= 4000
    )
    assert b.devices[1].metrics["ecc_volatile_uncorrected_total"] == 1
    assert b.devices[1].metrics["remapped_rows_pending"] == 1


# -- NVIDIA -----------------------------------------------------------------------


def _smi_fields(text: str) -> dict[str, str]:
    """A few fields from an `nvidia-smi -q` capture, by their (unique enough) labels."""
    wanted = {
        "Driver Version": None,
        "Product Name": None,
        "Serial Number": None,
        "GPU UUID": None,
        "VBIOS Version": None,
        "Bus Id": None,
        "Persistence Mode": None,
        "GPU Current Temp": None,
        "Power Draw": None,
        "Current Power Limit": None,
        "SM": None,
        "Gpu": None,
        "Total": None,
        "Replays Since Reset": None,
    }
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"\s*([^:]+?)\s+:\s*(.*)$", line)
        if m and m[1] in wanted and m[1] not in out:
            out[m[1]] = m[2].strip()
    return out


def test_nvidia_collector_matches_the_nvidia_smi_capture(fake_nvml: Any, fixtures_dir: Path) -> None:
    snap = NvidiaCollector(nvml=fake_nvml, clock=lambda: 1.0).collect()
    assert len(snap.devices) == 2
    gpu = snap.devices[0]
    smi = _smi_fields((fixtures_dir / "nvidia" / "nvidia-smi-q_h100.txt").read_text())
    assert gpu.info.model == smi["Product Name"] == "NVIDIA H100 80GB HBM3"
    assert gpu.info.uuid == smi["GPU UUID"]
    assert gpu.info.serial == smi["Serial Number"]
    assert gpu.info.bus_id == smi["Bus Id"]
    assert gpu.info.firmware_version == smi["VBIOS Version"]
    assert gpu.info.driver_version == smi["Driver Version"]
    assert gpu.info.memory_total_bytes == int(smi["Total"].split()[0]) * 2**20
    m = gpu.metrics
    assert m["temperature_c"] == float(smi["GPU Current Temp"].split()[0])
    assert m["power_w"] == pytest.approx(float(smi["Power Draw"].split()[0]), abs=0.01)
    assert m["power_limit_w"] == float(smi["Current Power Limit"].split()[0])
    assert m["clock_sm_mhz"] == float(smi["SM"].split()[0])
    assert m["utilization_percent"] == float(smi["Gpu"].split()[0])
    assert m["pcie_replay_total"] == float(smi["Replays Since Reset"])
    assert gpu.persistence_mode is (smi["Persistence Mode"] == "Enabled")
    assert m["ecc_aggregate_corrected_total"] == 3
    assert m["remapped_rows_pending"] == 0 and m["nvlink_links_active"] == 18
    assert "retired_pages_sbe" not in m  # NOT_SUPPORTED on Hopper: absent, not an error
    assert gpu.errors == [] and gpu.throttle_reasons == frozenset()


def test_nvidia_throttle_reasons_and_idle_bit(fake_nvml: Any) -> None:
    fake_nvml.data["devices"][0]["clocks_event_reasons"] = 0x04 | 0x40 | 0x01
    snap = NvidiaCollector(nvml=fake_nvml).collect()
    assert snap.devices[0].throttle_reasons == {"sw_power_cap", "hw_thermal_slowdown"}
    assert snap.devices[1].throttle_reasons == frozenset()  # GPU idle is not throttling


def test_nvidia_xid_events_from_nvml(fake_nvml: Any) -> None:
    collector = NvidiaCollector(nvml=fake_nvml, clock=lambda: 9.0)
    collector.collect()
    fake_nvml.events += [(1, 48), (1, 63), (0, 13)]
    snap = collector.collect()
    assert [e.code for e in snap.devices[1].xid_events] == [48, 63]
    assert [e.code for e in snap.devices[0].xid_events] == [13]
    assert collector.collect().devices[1].xid_events == []


def test_nvidia_gpu_lost(fake_nvml: Any) -> None:
    collector = NvidiaCollector(nvml=fake_nvml)
    uuid = collector.collect().devices[1].info.uuid
    fake_nvml.lost.add(1)
    dev = collector.collect().devices[1]
    assert dev.lost and dev.info.uuid == uuid  # remembered from the previous round
    assert dev.metrics == {}


def test_nvidia_unexpected_error_is_recorded(fake_nvml: Any) -> None:
    import pynvml

    def fail(h: int) -> int:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)

    fake_nvml.nvmlDeviceGetPcieReplayCounter = fail
    dev = NvidiaCollector(nvml=fake_nvml).collect().devices[0]
    assert any("nvmlDeviceGetPcieReplayCounter" in e for e in dev.errors)
    assert "temperature_c" in dev.metrics


def test_nvidia_calls_an_older_driver_lacks_are_unsupported_not_errors(fake_nvml: Any) -> None:
    # nvidia-ml-py raises NVML_ERROR_FUNCTION_NOT_FOUND when libnvidia-ml lacks a symbol
    # (nvmlDeviceGetTemperatureV, nvmlDeviceGetCurrentClocksEventReasons on older drivers).
    fake_nvml.old_driver = True
    fake_nvml.data["devices"][0]["clocks_event_reasons"] = 0x40
    dev = NvidiaCollector(nvml=fake_nvml).collect().devices[0]
    assert dev.errors == []
    assert dev.metrics["temperature_c"] == fake_nvml.data["devices"][0]["temperature_gpu_c"]
    assert dev.throttle_reasons == {"hw_thermal_slowdown"}
    assert "nvmlDeviceGetCurrentClocksThrottleReasons" in fake_nvml.calls


def test_nvidia_temperature_falls_back_without_leaving_an_error(fake_nvml: Any) -> None:
    """When only the newer temperature call fails (for any reason) and the older one answers, the
    reading is complete: no error is left behind for the health check to count."""
    import pynvml

    def fail(h: int, sensor: int) -> int:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)

    fake_nvml.nvmlDeviceGetTemperatureV = fail
    dev = NvidiaCollector(nvml=fake_nvml).collect().devices[0]
    assert dev.errors == []
    assert dev.metrics["temperature_c"] == fake_nvml.data["devices"][0]["temperature_gpu_c"]


def test_nvidia_pre_ampere_board_counts_retired_pages(fake_nvml: Any) -> None:
    dev = fake_nvml.data["devices"][0]
    dev["remapped_rows"] = None  # NOT_SUPPORTED before Ampere
    dev["retired_pages"] = {"0": [0x1000, 0x2000], "1": [0x3000]}  # by NVML_PAGE_RETIREMENT_CAUSE_*
    m = NvidiaCollector(nvml=fake_nvml).collect().devices[0].metrics
    assert m["retired_pages_sbe"] == 2 and m["retired_pages_dbe"] == 1
    assert not any(k.startswith("remapped_rows") for k in m)


def test_kernel_log_xid_lines(fake_nvml: Any, fixtures_dir: Path, tmp_path: Path) -> None:
    lines = (fixtures_dir / "nvidia" / "kern_xid.log").read_text().splitlines()
    parsed = [p for p in map(parse_kernel_xid, lines) if p]
    assert [(b, c) for b, c, _ in parsed] == [("0000:2A:00", 79), ("0000:18:00", 13), ("0000:18:00", 43)]
    log = tmp_path / "kern.log"
    log.write_text("old line before the agent started\nNVRM: Xid (PCI:0000:18:00): 48, old\n")
    collector = NvidiaCollector(nvml=fake_nvml, kernel_log_path=str(log))
    assert not any(d.xid_events for d in collector.collect().devices)  # starts at the end of the file
    with log.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    snap = collector.collect()
    assert [e.code for e in snap.devices[1].xid_events] == [79]
    assert [e.code for e in snap.devices[0].xid_events] == [13, 43]


def test_kernel_log_half_written_line_waits_for_its_end(fake_nvml: Any, tmp_path: Path) -> None:
    """A line still being written is read whole in a later round: "Xid ...: 7" + "9, ..." is Xid 79."""
    log = tmp_path / "kern.log"
    log.write_text("")
    collector = NvidiaCollector(nvml=fake_nvml, kernel_log_path=str(log))
    collector.collect()
    with log.open("a") as fh:
        fh.write("NVRM: Xid (PCI:0000:2A:00): 7")
    assert not any(d.xid_events for d in collector.collect().devices)
    with log.open("a") as fh:
        fh.write("9, pid=1, GPU has fallen off the bus.\n")
    assert [e.code for e in collector.collect().devices[1].xid_events] == [79]


def test_kernel_log_rotated_to_a_larger_file_is_read_from_its_start(fake_nvml: Any, tmp_path: Path) -> None:
    log = tmp_path / "kern.log"
    log.write_text("x" * 100 + "\n")
    collector = NvidiaCollector(nvml=fake_nvml, kernel_log_path=str(log))
    collector.collect()
    rotated = tmp_path / "kern.log.new"  # a new file, already longer than the old offset
    rotated.write_text("NVRM: Xid (PCI:0000:18:00): 48, an uncorrectable ECC error\n" + "y" * 200 + "\n")
    rotated.replace(log)
    assert [e.code for e in collector.collect().devices[0].xid_events] == [48]


# -- AMD, Gaudi, Ascend -------------------------------------------------------------


def test_amd_collector_from_recording(fake_amdsmi: Any) -> None:
    collector = AmdCollector(amdsmi=fake_amdsmi)
    assert collector.available()
    snap = collector.collect()
    a, b = snap.devices
    assert a.info.model == "AMD Instinct MI300X" and a.info.bus_id == "0000:05:00.0"
    assert a.info.driver_version == "6.7.0" and a.info.firmware_version == "022.040.003.041.000001"
    assert a.info.memory_total_bytes == 196592 * 2**20
    assert a.metrics["temperature_c"] == 54 and a.metrics["memory_temperature_c"] == 46
    assert a.metrics["power_w"] == 352 and a.metrics["power_limit_w"] == 750
    assert a.metrics["utilization_percent"] == 93 and a.metrics["clock_sm_mhz"] == 2100
    assert b.metrics["ecc_volatile_uncorrected_total"] == 1 and b.metrics["retired_pages_dbe"] == 1
    assert a.errors == [] and b.errors == []


def test_gaudi_collector_from_recording(fake_hlml: Any) -> None:
    collector = GaudiCollector(hlml=fake_hlml)
    assert collector.available()
    a, b = collector.collect().devices
    assert a.info.model == "HL-225" and a.info.serial == "AN50033317" and a.info.bus_id == "0000:33:00.0"
    assert a.info.driver_version == "1.17.1-78932ae"
    assert a.metrics["power_w"] == 412 and a.metrics["power_limit_w"] == 600
    assert a.metrics["memory_total_bytes"] == 103079215104 and a.metrics["utilization_percent"] == 96
    assert b.metrics["ecc_volatile_corrected_total"] == 4 and b.metrics["pcie_replay_total"] == 3
    assert a.persistence_mode is None  # not supported: no verdict either way
    assert a.info.firmware_version is not None and a.info.firmware_version.startswith("Preboot version")
    assert a.errors == [] and b.errors == []


def test_gaudi_older_pyhlml_utilisation_is_a_plain_percentage(fake_hlml: Any) -> None:
    fake_hlml.old_pyhlml = True
    a, _ = GaudiCollector(hlml=fake_hlml).collect().devices
    assert a.metrics["utilization_percent"] == 96 and a.errors == []


def test_gaudi_errors_by_hlml_code(fake_hlml: Any) -> None:
    collector = GaudiCollector(hlml=fake_hlml)
    uuid = collector.collect().devices[1].info.uuid
    # pyhlml's message names only the code ("HLML Error with code 49"): an unknown
    # failure is recorded, NOT_SUPPORTED (3) is not, AIP_IS_LOST (15) marks the device lost.

    def fail(h: int) -> int:
        raise fake_hlml.HLMLError(49)

    fake_hlml.hlmlDeviceGetPCIEReplayCounter = fail
    fake_hlml.lost.add(1)
    a, b = collector.collect().devices
    assert b.lost and b.metrics == {} and b.info.uuid == uuid  # identity kept from the last round
    assert not a.lost and a.errors == ["hlmlDeviceGetPCIEReplayCounter: HLML Error with code 49"]


def test_gaudi_unexpected_reading_is_named_for_what_failed(fake_hlml: Any) -> None:
    """A reading that is not an HLMLError (here a memory structure without ``used``) is that device's
    error, named as a reading, not as a failed handle lookup; the other device is read as usual."""

    class Odd:
        total = 96 * 2**30

    real = fake_hlml.hlmlDeviceGetMemoryInfo
    fake_hlml.hlmlDeviceGetMemoryInfo = lambda h: (
        Odd() if h == fake_hlml.hlmlDeviceGetHandleByIndex(0) else real(h)
    )
    a, b = GaudiCollector(hlml=fake_hlml).collect().devices
    assert len(a.errors) == 1 and a.errors[0].startswith("reading device 0: AttributeError")
    assert not a.lost and b.errors == [] and b.metrics


def test_ascend_parses_910b_table(fixtures_dir: Path) -> None:
    text = (fixtures_dir / "ascend" / "npu-smi-info_910b_8npu.txt").read_text()
    readings = parse_npu_smi_info(text)
    assert len(readings) == 8
    busy = readings[2]
    assert busy.info.model == "Ascend 910B3" and busy.info.bus_id == "0000:81:00.0"
    assert busy.info.uuid == "NPU-0000:81:00.0" and busy.info.driver_version == "23.0.6"
    assert busy.metrics == {
        "power_w": 361.7,
        "temperature_c": 52.0,
        "utilization_percent": 87.0,
        "memory_used_bytes": 58211 * 2**20,
        "memory_total_bytes": 65536 * 2**20,
    }
    assert [r.vendor_health for r in readings] == ["OK"] * 4 + ["Warning"] + ["OK"] * 2 + ["Alarm"]


def test_ascend_parses_older_910_table_and_uses_the_runner(fixtures_dir: Path) -> None:
    text = (fixtures_dir / "ascend" / "npu-smi-info_910_1npu.txt").read_text()
    calls: list[list[str]] = []

    def runner(argv: Any) -> str:
        calls.append(list(argv))
        return text

    collector = AscendCollector(runner=runner, npu_smi="/usr/local/bin/npu-smi")
    assert collector.available()
    (npu,) = collector.collect().devices
    assert calls[-1] == ["/usr/local/bin/npu-smi", "info"]
    assert npu.info.driver_version == "22.0.4" and npu.metrics["memory_total_bytes"] == 32768 * 2**20
    assert npu.metrics["temperature_c"] == 42


def test_ascend_two_chip_cards_get_one_reading_and_one_identity_per_chip(fixtures_dir: Path) -> None:
    # Atlas 300I Duo (310P3): the NPU row repeats per chip, both chips print the card's bus id,
    # row two reads "Chip Device", there is no HBM column and power is "NA".
    text = (fixtures_dir / "ascend" / "npu-smi-info_310p3_duo_2cards.txt").read_text()
    readings = parse_npu_smi_info(text)
    assert [r.info.uuid for r in readings] == [
        "NPU-0000:01:00.0",
        "NPU-0000:01:00.0-chip1",
        "NPU-0000:82:00.0",
        "NPU-0000:82:00.0-chip1",
    ]
    assert [r.info.index for r in readings] == [0, 1, 2, 3]
    first = readings[0]
    assert first.info.model == "Ascend 310P3" and first.info.driver_version == "24.1.0"
    assert first.metrics == {
        "temperature_c": 55.0,
        "utilization_percent": 12.0,
        "memory_used_bytes": 20914 * 2**20,
        "memory_total_bytes": 44280 * 2**20,
    }
    assert [r.vendor_health for r in readings] == ["OK", "OK", "Warning", "OK"]


def test_ascend_without_npu_smi_is_unavailable() -> None:
    assert not AscendCollector(npu_smi="/nonexistent/npu-smi").available()


def test_system_collector_reads_the_host(tmp_path: Path) -> None:
    snap = SystemCollector(disk_paths=[str(tmp_path), "/nonexistent-path"]).collect()
    host = snap.host_metrics
    assert 0 <= host["cpu_utilization_percent"] <= 100
    assert host["memory_total_bytes"] > 0
    assert f"disk_used_percent[{tmp_path}]" in host
    assert not any("nonexistent" in k for k in host)


def test_nvidia_nvlink_counters_a_board_does_not_keep_are_left_out(fake_nvml: Any) -> None:
    import pynvml

    real = fake_nvml.nvmlDeviceGetNvLinkErrorCounter

    def counter(h: int, link: int, which: int) -> int:
        if which == pynvml.NVML_NVLINK_ERROR_DL_CRC_FLIT:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return 2 if which == pynvml.NVML_NVLINK_ERROR_DL_REPLAY else int(real(h, link, which))

    fake_nvml.nvmlDeviceGetNvLinkErrorCounter = counter
    m = NvidiaCollector(nvml=fake_nvml).collect().devices[0].metrics
    assert m["nvlink_links_active"] == 18 and m["nvlink_replay_errors_total"] == 36
    assert "nvlink_crc_errors_total" not in m


def test_nvidia_pcie_board_without_nvlink(fake_nvml: Any) -> None:
    fake_nvml.data["devices"][0]["nvlink"] = None
    m = NvidiaCollector(nvml=fake_nvml).collect().devices[0].metrics
    assert not any(k.startswith("nvlink") for k in m)


def test_amd_other_releases_power_fields_and_unsupported_values(fake_amdsmi: Any) -> None:
    dev = fake_amdsmi.data["devices"][0]
    dev["power_info"] = {
        "socket_power": 611,
        "current_socket_power": 0xFFFFFFFF,
        "average_socket_power": "N/A",
        "power_limit": 750,
    }
    dev["temp"]["VRAM"] = 0xFFFF
    m = AmdCollector(amdsmi=fake_amdsmi).collect().devices[0].metrics
    assert m["power_w"] == 611 and m["power_limit_w"] == 750
    assert "memory_temperature_c" not in m


def test_amd_failures_by_status_code(fake_amdsmi: Any) -> None:
    def fail(h: int) -> int:
        raise fake_amdsmi.AmdSmiLibraryException(7)  # AMDSMI_STATUS_API_FAILED

    fake_amdsmi.amdsmi_get_gpu_pci_replay_counter = fail
    fake_amdsmi.data["devices"][0]["bad_pages"] = None  # AMDSMI_STATUS_NOT_SUPPORTED: absent, no error
    a, _ = AmdCollector(amdsmi=fake_amdsmi).collect().devices
    assert a.errors == [
        "amdsmi_get_gpu_pci_replay_counter: Error code: 7 | AMDSMI_STATUS_API_FAILED - API call failed"
    ]
    assert "retired_pages_dbe" not in a.metrics and "pcie_replay_total" not in a.metrics


def test_every_nvml_name_the_collector_uses_exists_in_nvidia_ml_py() -> None:
    """The fake answers whatever it is asked; this pins the names to the real library's."""
    import pynvml

    source = (Path(__file__).resolve().parents[2] / "src/fleetproof/agent/collectors/nvidia.py").read_text()
    names = set(re.findall(r"\b(nvml[A-Z]\w+|NVML_[A-Z_]+)\b(?!\*)", source))
    assert len(names) > 25
    missing = sorted(n for n in names if not hasattr(pynvml, n))
    assert missing == [], missing
