"""Intel Gaudi accelerators through HLML (the ``pyhlml`` package).

HLML mirrors NVML's shape (``hlmlDeviceGet*``). Only getters are called; the
module is injectable (``hlml=``) for tests. Temperatures are in °C, power in mW,
memory in bytes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, Snapshot, register

__all__ = ["GaudiCollector"]

_TEMP_AIP = 0  # HLML_TEMPERATURE_ON_AIP
_CORRECTED, _UNCORRECTED = 0, 1
_VOLATILE, _AGGREGATE = 0, 1


def _import_pyhlml() -> Any:
    import pyhlml  # raises ImportError or OSError without the Habana driver

    return pyhlml


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class GaudiCollector:
    name = "gaudi"

    def __init__(self, hlml: Any = None, clock: Callable[[], float] = time.time, **_: object) -> None:
        self._hl = hlml
        self._clock = clock
        self._ready = False

    def _lib(self) -> Any:
        if self._hl is None:
            self._hl = _import_pyhlml()
        if not self._ready:
            self._hl.hlmlInit()
            self._ready = True
        return self._hl

    def available(self) -> bool:
        try:
            return int(self._lib().hlmlDeviceGetCount()) > 0
        except Exception:
            return False

    def close(self) -> None:
        if self._ready:
            with contextlib.suppress(Exception):
                self._hl.hlmlShutdown()
            self._ready = False

    def collect(self) -> Snapshot:
        hl = self._lib()
        now = self._clock()
        devices = [self._read(hl, i) for i in range(int(hl.hlmlDeviceGetCount()))]
        return Snapshot(collector=self.name, time=now, devices=devices)

    def _get(self, reading: DeviceReading, fn: str, *args: Any) -> Any:
        try:
            return getattr(self._hl, fn)(*args)
        except AttributeError:
            return None
        except Exception as exc:  # HLMLError
            if "NOT_SUPPORTED" not in str(exc).upper().replace(" ", "_"):
                reading.errors.append(f"{fn}: {exc}")
            return None

    def _read(self, hl: Any, index: int) -> DeviceReading:
        reading = DeviceReading(info=DeviceInfo(index, "gaudi", "unknown", f"gaudi-index-{index}"))
        h = hl.hlmlDeviceGetHandleByIndex(index)
        g = self._get
        pci = g(reading, "hlmlDeviceGetPCIInfo", h)
        mem = g(reading, "hlmlDeviceGetMemoryInfo", h)
        serial = g(reading, "hlmlDeviceGetSerial", h)
        fw = g(reading, "hlmlDeviceGetFWVersion", h)
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
            m["utilization_percent"] = float(util)
        if mem is not None:
            m["memory_used_bytes"] = float(mem.used)
            m["memory_total_bytes"] = float(mem.total)
        clock = g(reading, "hlmlDeviceGetClockInfo", h, 0)
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
        return reading


register("gaudi", GaudiCollector)
