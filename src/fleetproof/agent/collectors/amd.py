"""AMD Instinct and Radeon GPUs through AMD SMI (the ``amdsmi`` Python package).

Only ``amdsmi_get_*`` calls are made. The module is injectable (``amdsmi=``)
for tests; without ROCm the import fails (ImportError, or KeyError/OSError from
the bindings when the library is missing) and :meth:`available` returns False.
AMD SMI reports temperatures in °C (the library divides ROCm SMI's millidegrees),
socket power in watts, VRAM in MiB, and the power limit in watts or microwatts
depending on the release (``power_limit`` is hwmon's ``power1_cap`` as read, in
microwatts, in some releases and divided down to watts in others); all are
normalised here. Failures are ``AmdSmiLibraryException`` with the status in
``err_code``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, LibraryCollector, Snapshot

__all__ = ["AmdCollector"]

MIB = 1024 * 1024


def _import_amdsmi() -> Any:
    import amdsmi  # raises ImportError, KeyError or OSError without the ROCm stack

    return amdsmi


_UNSUPPORTED = {0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}
_STATUS_NOT_SUPPORTED = 2  # AMDSMI_STATUS_NOT_SUPPORTED


def _number(value: Any) -> float | None:
    """AMD SMI writes "N/A", or the field type's all-ones value, for what a board does not report."""
    if isinstance(value, dict):
        value = value.get("value")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number in _UNSUPPORTED else number


class AmdCollector(LibraryCollector):
    name = "amd"
    start_call, stop_call = "amdsmi_init", "amdsmi_shut_down"

    def __init__(self, amdsmi: Any = None, clock: Callable[[], float] = time.time, **_: object) -> None:
        super().__init__(amdsmi, clock)

    def _import(self) -> Any:
        return _import_amdsmi()

    def _count(self, lib: Any) -> int:
        return len(lib.amdsmi_get_processor_handles())

    def collect(self) -> Snapshot:
        smi = self._lib()
        now = self._clock()
        devices = [self._read(smi, i, h) for i, h in enumerate(smi.amdsmi_get_processor_handles())]
        return Snapshot(collector=self.name, time=now, devices=devices)

    def _get(self, reading: DeviceReading, fn: str, *args: Any) -> Any:
        try:
            return getattr(self._module, fn)(*args)
        except Exception as exc:  # AmdSmiLibraryException: not supported or failed
            code = getattr(exc, "err_code", None)
            unsupported = (
                code == _STATUS_NOT_SUPPORTED if code is not None else "NOT_SUPPORTED" in str(exc).upper()
            )
            if not unsupported:
                reading.errors.append(f"{fn}: {' '.join(str(exc).split())}")
            return None

    def _read(self, smi: Any, index: int, h: Any) -> DeviceReading:
        reading = DeviceReading(info=DeviceInfo(index, "amd", "unknown", f"amd-index-{index}"))
        g = self._get
        asic = g(reading, "amdsmi_get_gpu_asic_info", h) or {}
        driver = g(reading, "amdsmi_get_gpu_driver_info", h) or {}
        vbios = g(reading, "amdsmi_get_gpu_vbios_info", h) or {}
        vram = g(reading, "amdsmi_get_gpu_vram_usage", h) or {}
        total_mib = _number(vram.get("vram_total"))
        serial = asic.get("asic_serial")
        reading.info = DeviceInfo(
            index=index,
            vendor="amd",
            model=str(asic.get("market_name") or "unknown"),
            uuid=str(g(reading, "amdsmi_get_gpu_device_uuid", h) or f"amd-index-{index}"),
            serial=str(serial) if serial not in (None, "N/A") else None,
            bus_id=g(reading, "amdsmi_get_gpu_device_bdf", h),
            driver_version=driver.get("driver_version"),
            firmware_version=vbios.get("version"),
            memory_total_bytes=int(total_mib * MIB) if total_mib is not None else None,
        )
        self._metrics(smi, reading, h, vram)
        return reading

    def _metrics(self, smi: Any, reading: DeviceReading, h: Any, vram: dict[str, Any]) -> None:
        g = self._get
        total_mib = _number(vram.get("vram_total"))
        m = reading.metrics
        temp_type, temp_metric = smi.AmdSmiTemperatureType, smi.AmdSmiTemperatureMetric
        for key, sensor in (("temperature_c", temp_type.HOTSPOT), ("memory_temperature_c", temp_type.VRAM)):
            value = _number(g(reading, "amdsmi_get_temp_metric", h, sensor, temp_metric.CURRENT))
            if value is not None:
                m[key] = value
        power = g(reading, "amdsmi_get_power_info", h) or {}
        # MI300 and later fill current_socket_power, older boards average_socket_power, newer
        # releases socket_power; all in watts on bare-metal Linux.
        watts = next(
            (
                w
                for w in (
                    _number(power.get(k))
                    for k in ("current_socket_power", "average_socket_power", "socket_power")
                )
                if w is not None
            ),
            None,
        )
        if watts is not None:
            m["power_w"] = watts
        limit = _number(power.get("power_limit"))
        if limit is not None:
            m["power_limit_w"] = limit / 1e6 if limit > 1e5 else limit  # microwatts on ROCm 6.x
        activity = g(reading, "amdsmi_get_gpu_activity", h) or {}
        for key, field in (
            ("utilization_percent", "gfx_activity"),
            ("memory_utilization_percent", "umc_activity"),
        ):
            value = _number(activity.get(field))
            if value is not None:
                m[key] = value
        used_mib = _number(vram.get("vram_used"))
        if used_mib is not None and total_mib is not None:
            m["memory_used_bytes"] = used_mib * MIB
            m["memory_total_bytes"] = total_mib * MIB
        clocks = smi.AmdSmiClkType
        for key, clk in (("clock_sm_mhz", clocks.GFX), ("clock_memory_mhz", clocks.MEM)):
            info = g(reading, "amdsmi_get_clock_info", h, clk) or {}
            value = _number(info.get("clk"))
            if value is not None:
                m[key] = value
        ecc = g(reading, "amdsmi_get_gpu_total_ecc_count", h) or {}
        for key, field in (("corrected", "correctable_count"), ("uncorrected", "uncorrectable_count")):
            value = _number(ecc.get(field))
            if value is not None:
                m[f"ecc_volatile_{key}_total"] = value  # RAS counters restart at driver load
        replay = _number(g(reading, "amdsmi_get_gpu_pci_replay_counter", h))
        if replay is not None:
            m["pcie_replay_total"] = replay
        bad_pages = g(reading, "amdsmi_get_gpu_bad_page_info", h)
        if isinstance(bad_pages, list):
            m["retired_pages_dbe"] = float(len(bad_pages))
