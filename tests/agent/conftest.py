"""Fakes at the hardware boundary, built from recorded values in ``tests/fixtures/<vendor>/``.

With pytest's importlib mode test modules cannot import each other, so the fakes
live here and reach tests through fixtures.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from enum import IntEnum
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pynvml
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class FakeNVML:
    """Answers the NVML getters the collector uses from a recorded device table.

    Errors are pynvml's own ``NVMLError`` subclasses; a ``null`` in the recording
    raises NVML_ERROR_NOT_SUPPORTED, as the real library does for that board.
    Every ``nvml*`` call is logged in ``calls`` (the read-only test inspects it).
    """

    NVMLError = pynvml.NVMLError

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = copy.deepcopy(data)
        self.calls: list[str] = []
        self.lost: set[int] = set()
        self.events: list[tuple[int, int]] = []
        # A driver older than the newest NVML calls: those raise NVML_ERROR_FUNCTION_NOT_FOUND.
        self.old_driver = False
        for name in dir(pynvml):
            if name.startswith(("NVML_", "nvmlEventType", "nvmlClocks")):
                setattr(self, name, getattr(pynvml, name))

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("nvml") and callable(object.__getattribute__(self, name)):
            object.__getattribute__(self, "calls").append(name)
        return object.__getattribute__(self, name)

    # handles are 1000 + index so that no handle is 0 (a NULL pointer)
    def _dev(self, handle: int) -> dict[str, Any]:
        index = handle - 1000
        if index in self.lost:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return self.data["devices"][index]  # type: ignore[no-any-return]

    def _value(self, handle: int, key: str) -> Any:
        value = self._dev(handle)[key]
        if value is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlInit(self) -> None:
        return None

    def nvmlShutdown(self) -> None:
        return None

    def nvmlSystemGetDriverVersion(self) -> str:
        return str(self.data["driver_version"])

    def nvmlDeviceGetCount(self) -> int:
        return len(self.data["devices"])

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index in self.lost:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return 1000 + index

    def nvmlDeviceGetName(self, h: int) -> str:
        return str(self._value(h, "name"))

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return str(self._value(h, "uuid"))

    def nvmlDeviceGetSerial(self, h: int) -> str:
        return str(self._value(h, "serial"))

    def nvmlDeviceGetVbiosVersion(self, h: int) -> str:
        return str(self._value(h, "vbios_version"))

    def nvmlDeviceGetPciInfo(self, h: int) -> Any:
        return SimpleNamespace(busId=self._value(h, "pci_bus_id"))

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return SimpleNamespace(**self._value(h, "memory"))

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return int(self._value(h, "temperature_gpu_c"))

    def nvmlDeviceGetTemperatureV(self, h: int, sensor: int, version: int = pynvml.nvmlTemperature_v1) -> int:
        # nvidia-ml-py looks the symbol up on first use; a driver without it raises FUNCTION_NOT_FOUND.
        if self.old_driver:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        assert sensor == pynvml.NVML_TEMPERATURE_GPU and version == pynvml.nvmlTemperature_v1
        return int(self._value(h, "temperature_gpu_c"))

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return int(self._value(h, "power_usage_mw"))

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return int(self._value(h, "enforced_power_limit_mw"))

    def nvmlDeviceGetClockInfo(self, h: int, clock: int) -> int:
        names = {
            pynvml.NVML_CLOCK_GRAPHICS: "graphics",
            pynvml.NVML_CLOCK_SM: "sm",
            pynvml.NVML_CLOCK_MEM: "mem",
        }
        return int(self._value(h, "clocks_mhz")[names[clock]])

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return SimpleNamespace(**self._value(h, "utilization"))

    def nvmlDeviceGetTotalEccErrors(self, h: int, error_type: int, counter: int) -> int:
        ecc = self._value(h, "ecc")
        scope = "volatile" if counter == pynvml.NVML_VOLATILE_ECC else "aggregate"
        kind = "corrected" if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED else "uncorrected"
        return int(ecc[scope][kind])

    def nvmlDeviceGetRemappedRows(self, h: int) -> tuple[int, int, int, int]:
        return tuple(self._value(h, "remapped_rows"))  # type: ignore[return-value]

    def nvmlDeviceGetRetiredPages(self, h: int, cause: int) -> list[int]:
        return list(self._value(h, "retired_pages")[str(cause)])

    def nvmlDeviceGetPcieReplayCounter(self, h: int) -> int:
        return int(self._value(h, "pcie_replay_counter"))

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        if self.old_driver:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        return int(self._value(h, "clocks_event_reasons"))

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h: int) -> int:
        return int(self._value(h, "clocks_event_reasons"))

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        return int(self._value(h, "total_energy_consumption_mj"))

    def nvmlDeviceGetViolationStatus(self, h: int, policy: int) -> Any:
        names = {pynvml.NVML_PERF_POLICY_POWER: "power", pynvml.NVML_PERF_POLICY_THERMAL: "thermal"}
        table = self._value(h, "violation_time_ns")
        if policy not in names or table.get(names[policy]) is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(referenceTime=1, violationTime=int(table[names[policy]]))

    def nvmlDeviceGetPersistenceMode(self, h: int) -> int:
        return int(self._value(h, "persistence_mode"))

    def nvmlDeviceGetNvLinkState(self, h: int, link: int) -> int:
        nvlink = self._value(h, "nvlink")
        if link >= nvlink["links"]:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return 1

    def nvmlDeviceGetNvLinkErrorCounter(self, h: int, link: int, counter: int) -> int:
        nvlink = self._value(h, "nvlink")
        key = {
            pynvml.NVML_NVLINK_ERROR_DL_CRC_FLIT: "crc_flit",
            pynvml.NVML_NVLINK_ERROR_DL_REPLAY: "replay",
            pynvml.NVML_NVLINK_ERROR_DL_RECOVERY: "recovery",
        }[counter]
        return int(nvlink[key]) if link == 0 else 0

    def nvmlEventSetCreate(self) -> str:
        return "event-set"

    def nvmlDeviceRegisterEvents(self, h: int, types: int, event_set: str) -> None:
        return None

    def nvmlEventSetWait_v2(self, event_set: str, timeout_ms: int) -> Any:
        if not self.events:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
        index, code = self.events.pop(0)
        return SimpleNamespace(
            device=1000 + index, eventType=pynvml.nvmlEventTypeXidCriticalError, eventData=code
        )

    def nvmlEventSetFree(self, event_set: str) -> None:
        return None


class AmdSmiLibraryException(Exception):
    """Shaped like amdsmi's: the status in ``err_code``, the message amdsmi formats from it."""

    _INFO: ClassVar[dict[int, str]] = {
        2: "AMDSMI_STATUS_NOT_SUPPORTED - Feature not supported",
        7: "AMDSMI_STATUS_API_FAILED - API call failed",
    }

    def __init__(self, err_code: int) -> None:
        super().__init__(err_code)
        self.err_code = err_code

    def __str__(self) -> str:
        return f"Error code:\n\t{self.err_code} | {self._INFO.get(self.err_code, 'unknown')}"


AMDSMI_STATUS_NOT_SUPPORTED = 2


class FakeAmdSmi:
    """The amdsmi calls the collector uses, answered from a recording.

    Names, enum values, argument checks and dict keys follow amdsmi's Python interface
    (``amdsmi_interface.py``): the enum getters refuse anything but their IntEnum, as
    the real ones do (AmdSmiParameterException).
    """

    AmdSmiLibraryException = AmdSmiLibraryException

    class AmdSmiTemperatureType(IntEnum):
        EDGE, HOTSPOT, VRAM = 0, 1, 2

    class AmdSmiTemperatureMetric(IntEnum):
        CURRENT = 0

    class AmdSmiClkType(IntEnum):
        GFX, MEM = 0, 4

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = copy.deepcopy(data)
        self.calls: list[str] = []

    def _v(self, h: int, key: str) -> Any:
        self.calls.append(key)
        value = self.data["devices"][h][key]
        if value is None:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
        return value

    def amdsmi_init(self) -> None:
        return None

    def amdsmi_shut_down(self) -> None:
        return None

    def amdsmi_get_processor_handles(self) -> list[int]:
        return list(range(len(self.data["devices"])))

    def amdsmi_get_gpu_asic_info(self, h: int) -> dict[str, Any]:
        return dict(self._v(h, "asic_info"))

    def amdsmi_get_gpu_device_uuid(self, h: int) -> str:
        return str(self._v(h, "uuid"))

    def amdsmi_get_gpu_device_bdf(self, h: int) -> str:
        return str(self._v(h, "bdf"))

    def amdsmi_get_gpu_driver_info(self, h: int) -> dict[str, Any]:
        return dict(self._v(h, "driver_info"))

    def amdsmi_get_gpu_vbios_info(self, h: int) -> dict[str, Any]:
        return dict(self._v(h, "vbios_info"))

    def amdsmi_get_temp_metric(self, h: int, sensor: IntEnum, metric: IntEnum) -> int:
        assert isinstance(sensor, self.AmdSmiTemperatureType)
        assert isinstance(metric, self.AmdSmiTemperatureMetric)
        value = self._v(h, "temp")[sensor.name]
        if value is None:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
        return int(value)

    def amdsmi_get_power_info(self, h: int) -> dict[str, Any]:
        return dict(self._v(h, "power_info"))

    def amdsmi_get_gpu_activity(self, h: int) -> dict[str, Any]:
        return dict(self._v(h, "activity"))

    def amdsmi_get_gpu_vram_usage(self, h: int) -> dict[str, Any]:
        return dict(self._v(h, "vram_usage"))

    def amdsmi_get_clock_info(self, h: int, clk: IntEnum) -> dict[str, Any]:
        assert isinstance(clk, self.AmdSmiClkType)
        return dict(self._v(h, "clock")[clk.name])

    def amdsmi_get_gpu_total_ecc_count(self, h: int) -> dict[str, Any]:
        return dict(self._v(h, "ecc"))

    def amdsmi_get_gpu_pci_replay_counter(self, h: int) -> int:
        return int(self._v(h, "pci_replay_counter"))

    def amdsmi_get_gpu_bad_page_info(self, h: int) -> list[dict[str, Any]]:
        return list(self._v(h, "bad_pages"))


class HLMLError(Exception):
    """Shaped like pyhlml's ``HLMLError``: the HLML return code in ``value``, a message naming only it."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return f"HLML Error with code {self.value}"


HLML_ERROR_NOT_SUPPORTED, HLML_ERROR_AIP_IS_LOST = 3, 15  # pyhlml's HLML_RETURN values


class FakeHLML:
    """The pyhlml getters the collector uses, answered from a recording.

    Names, arguments and return shapes follow ``habana-pyhlml`` (``pyhlml/main.py``):
    strings come back as bytes, PCI info, memory and utilisation as structures.
    ``old_pyhlml`` makes utilisation a plain percentage, as pyhlml 1.9 returned it.
    """

    HLMLError = HLMLError

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = copy.deepcopy(data)
        self.lost: set[int] = set()
        self.old_pyhlml = False

    def _d(self, h: int) -> dict[str, Any]:
        if h in self.lost:
            raise HLMLError(HLML_ERROR_AIP_IS_LOST)
        return self.data["devices"][h]  # type: ignore[no-any-return]

    def _v(self, h: int, key: str) -> Any:
        value = self._d(h)[key]
        if value is None:
            raise HLMLError(HLML_ERROR_NOT_SUPPORTED)
        return value

    def hlmlInit(self) -> None:
        return None

    def hlmlShutdown(self) -> None:
        return None

    def hlmlDeviceGetCount(self) -> int:
        return len(self.data["devices"])

    def hlmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def hlmlGetDriverVersion(self) -> bytes:
        return str(self.data["driver_version"]).encode()

    def hlmlDeviceGetName(self, h: int) -> bytes:
        return str(self._v(h, "name")).encode()

    def hlmlDeviceGetUUID(self, h: int) -> bytes:
        return str(self._v(h, "uuid")).encode()

    def hlmlDeviceGetSerial(self, h: int) -> bytes:
        return str(self._v(h, "serial")).encode()

    def hlmlDeviceGetFirmwareSPIVersion(self, h: int) -> bytes:
        return str(self._v(h, "fw_spi_version")).encode()

    def hlmlDeviceGetPCIInfo(self, h: int) -> Any:
        return SimpleNamespace(bus_id=str(self._v(h, "bus_id")).encode())

    def hlmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return SimpleNamespace(**self._v(h, "memory"))

    def hlmlDeviceGetTemperature(self, h: int, sensor_type: int) -> int:
        assert sensor_type == 0  # HLML_TEMPERATURE_ON_AIP
        return int(self._v(h, "temperature_aip_c"))

    def hlmlDeviceGetPowerUsage(self, h: int) -> int:
        return int(self._v(h, "power_usage_mw"))

    def hlmlDeviceGetPowerManagementDefaultLimit(self, h: int) -> int:
        return int(self._v(h, "power_limit_mw"))

    def hlmlDeviceGetUtilizationRates(self, h: int) -> Any:
        util = self._v(h, "utilization")
        if self.old_pyhlml:
            return int(util["aip"])
        return SimpleNamespace(aip=int(util["aip"]), memory=int(util["memory"]))

    def hlmlDeviceGetClockInfo(self, h: int, clock_type: int = 0) -> int:
        assert clock_type == 0  # HLML_CLOCK_SOC
        return int(self._v(h, "clock_soc_mhz"))

    def hlmlDeviceGetTotalECCErrors(self, h: int, error_type: int, counter_type: int) -> int:
        ecc = self._v(h, "ecc")
        return int(
            ecc["volatile" if counter_type == 0 else "aggregate"][
                "corrected" if error_type == 0 else "uncorrected"
            ]
        )

    def hlmlDeviceGetPCIEReplayCounter(self, h: int) -> int:
        return int(self._v(h, "pcie_replay_counter"))

    def hlmlDeviceGetPersistenceMode(self, h: int) -> int:
        return int(self._v(h, "persistence_mode"))


def load_json(relative: str) -> dict[str, Any]:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def fake_nvml() -> FakeNVML:
    return FakeNVML(load_json("nvidia/h100_sxm_2gpu.json"))


@pytest.fixture
def fake_amdsmi() -> FakeAmdSmi:
    return FakeAmdSmi(load_json("amd/mi300x_2gpu.json"))


@pytest.fixture
def fake_hlml() -> FakeHLML:
    return FakeHLML(load_json("gaudi/hl225_2dev.json"))


class FleetServer:
    """The real fleet server app on SQLite, served by uvicorn on 127.0.0.1 in a thread.

    ``stop`` and ``start`` again keep the same store and port, so a test can take the server away
    from an enrolled agent and bring it back. The server reads the wall clock: agents sign their
    requests with it, and nothing here waits on it.
    """

    ADMIN = "agent-test-admin-token-0123"

    def __init__(self, tmp_path: Path) -> None:
        import socket

        from fleetproof.server.config import ServerSettings
        from fleetproof.server.context import ServerContext
        from fleetproof.server.records_check import check_probe_record
        from fleetproof.server.store.db import Database

        url = f"sqlite:///{tmp_path / 'fleet.db'}"
        self.db = Database(url)
        self.db.migrate()
        settings = ServerSettings(db=url, admin_token=self.ADMIN, background=False)
        self.ctx = ServerContext(settings=settings, db=self.db, check_record=check_probe_record)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: Any = None

    def start(self) -> None:
        import socket
        import threading
        import time

        import uvicorn

        from fleetproof.server.app import create_app

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(create_app(self.ctx), log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fleet server did not start")
            time.sleep(0.02)
        self._sock = sock

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        self._server = None

    def admin(self, method: str, path: str, body: dict[str, Any]) -> Any:
        import httpx

        response = httpx.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.ADMIN}"},
            timeout=10,
        )
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture
def fleet_server(tmp_path: Path) -> Iterator[FleetServer]:
    server = FleetServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.db.dispose()
