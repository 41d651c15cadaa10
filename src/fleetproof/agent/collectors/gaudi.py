"""Intel Gaudi accelerators through HLML (the ``pyhlml`` module of ``habana-pyhlml``).

HLML mirrors NVML's shape (``hlmlDeviceGet*``). Only getters are called; the
module is injectable (``hlml=``) for tests. Temperatures are in °C, power in mW,
memory in bytes. Failures are ``HLMLError`` with the HLML return code in
``value``; its text is only "HLML Error with code N", so unsupported reads are
recognised by code, not by message. ``hlmlDeviceGetUtilizationRates`` returns a
plain percentage in older pyhlml releases and a structure with ``aip`` (and
``memory``) in newer ones; both are read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, LibraryCollector, Snapshot

__all__ = ["GaudiCollector"]

# pyhlml's enum values (pyhlml_types_generated / hlml_types), fixed by the C library's ABI.
_TEMP_AIP = 0  # HLML_TEMPERATURE_ON_AIP
_CLOCK_SOC = 0  # HLML_CLOCK_SOC
_CORRECTED, _UNCORRECTED = 0, 1  # HLML_MEMORY_ERROR_TYPE_*
_VOLATILE, _AGGREGATE = 0, 1  # HLML_VOLATILE_ECC, HLML_AGGREGATE_ECC
_NOT_SUPPORTED = 3  # HLML_ERROR_NOT_SUPPORTED
_AIP_IS_LOST = 15  # HLML_ERROR_AIP_IS_LOST


class _Lost(Exception):
    """HLML said the accelerator is lost (HLML_ERROR_AIP_IS_LOST)."""


def _import_pyhlml() -> Any:
    import pyhlml  # raises ImportError or OSError without the Habana driver

    return pyhlml


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class GaudiCollector(LibraryCollector):
    name = "gaudi"
    start_call, stop_call = "hlmlInit", "hlmlShutdown"

    def __init__(self, hlml: Any = None, clock: Callable[[], float] = time.time, **_: object) -> None:
        super().__init__(hlml, clock)
        self._known: dict[int, DeviceInfo] = {}

    def _import(self) -> Any:
        return _import_pyhlml()

    def _count(self, lib: Any) -> int:
        return int(lib.hlmlDeviceGetCount())

    def collect(self) -> Snapshot:
        hl = self._lib()
        now = self._clock()
        devices = [self._read(hl, i) for i in range(int(hl.hlmlDeviceGetCount()))]
        return Snapshot(collector=self.name, time=now, devices=devices)

    def _get(self, reading: DeviceReading, fn: str, *args: Any) -> Any:
        """Call one HLML getter; None when unsupported, raise _Lost when the device is gone."""
        try:
            return getattr(self._module, fn)(*args)
        except AttributeError:
            return None  # a pyhlml release without this call
        except Exception as exc:  # HLMLError; its code is in .value
            code = getattr(exc, "value", None)
            if code == _AIP_IS_LOST:
                raise _Lost(str(exc)) from exc
            if code != _NOT_SUPPORTED:
                reading.errors.append(f"{fn}: {exc}")
            return None

    def _read(self, hl: Any, index: int) -> DeviceReading:
        # A lost device keeps the identity it had in the previous round, so inventory sees
        # the same device gone bad rather than a new unknown one.
        placeholder = self._known.get(index) or DeviceInfo(index, "gaudi", "unknown", f"gaudi-index-{index}")
        reading = DeviceReading(info=placeholder)
        try:
            h = hl.hlmlDeviceGetHandleByIndex(index)
        except Exception as exc:  # HLMLError from the handle lookup
            reading.lost = getattr(exc, "value", None) == _AIP_IS_LOST
            reading.errors.append(f"hlmlDeviceGetHandleByIndex: {exc}")
            return reading
        try:
            self._read_device(reading, h, index)
            self._known[index] = reading.info
        except _Lost as exc:
            reading.info, reading.lost = placeholder, True
            reading.metrics.clear()
            reading.errors.append(f"device is lost: {exc}")
        except Exception as exc:  # a reading the getters did not expect: this device only
            reading.errors.append(f"reading device {index}: {type(exc).__name__}: {exc}")
        return reading

    def _read_device(self, reading: DeviceReading, h: Any, index: int) -> None:
        g = self._get
        pci = g(reading, "hlmlDeviceGetPCIInfo", h)
        mem = g(reading, "hlmlDeviceGetMemoryInfo", h)
        serial = g(reading, "hlmlDeviceGetSerial", h)
        fw = g(reading, "hlmlDeviceGetFirmwareSPIVersion", h)  # hl-smi's "Firmware [SPI] Version"
        driver = g(reading, "hlmlGetDriverVersion")
        reading.info = DeviceInfo(
            index=index,
            vendor="gaudi",
            model=_text(g(reading, "hlmlDeviceGetName", h) or "unknown"),
            uuid=_text(g(reading, "hlmlDeviceGetUUID", h) or f"gaudi-index-{index}"),
            serial=_text(serial) if serial else None,
            bus_id=_text(pci.bus_id) if pci is not None else None,
            driver_version=_text(driver) if driver else None,
            firmware_version=_text(fw) if fw else None,
            memory_total_bytes=int(mem.total) if mem is not None else None,
        )
        m = reading.metrics
        temp = g(reading, "hlmlDeviceGetTemperature", h, _TEMP_AIP)
        if temp is not None:
            m["temperature_c"] = float(temp)
        for key, fn in (
            ("power_w", "hlmlDeviceGetPowerUsage"),
            ("power_limit_w", "hlmlDeviceGetPowerManagementDefaultLimit"),
        ):
            value = g(reading, fn, h)
            if value is not None:
                m[key] = float(value) / 1000.0
        util = g(reading, "hlmlDeviceGetUtilizationRates", h)
        if util is not None:
            m["utilization_percent"] = float(getattr(util, "aip", util))
        if mem is not None:
            m["memory_used_bytes"] = float(mem.used)
            m["memory_total_bytes"] = float(mem.total)
        clock = g(reading, "hlmlDeviceGetClockInfo", h, _CLOCK_SOC)
        if clock is not None:
            m["clock_sm_mhz"] = float(clock)
        for kind, err in (("corrected", _CORRECTED), ("uncorrected", _UNCORRECTED)):
            for scope, counter in (("volatile", _VOLATILE), ("aggregate", _AGGREGATE)):
                value = g(reading, "hlmlDeviceGetTotalECCErrors", h, err, counter)
                if value is not None:
                    m[f"ecc_{scope}_{kind}_total"] = float(value)
        replay = g(reading, "hlmlDeviceGetPCIEReplayCounter", h)
        if replay is not None:
            m["pcie_replay_total"] = float(replay)
        mode = g(reading, "hlmlDeviceGetPersistenceMode", h)
        reading.persistence_mode = None if mode is None else bool(mode)
