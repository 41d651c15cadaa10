"""Intel Data Center GPU Max (and Flex) through Intel's ``xpu-smi``.

One round runs ``xpu-smi discovery -j`` (the device list, JSON) and, per device,
``xpu-smi discovery -d N`` (driver, firmware, serial, memory size) and ``xpu-smi stats -d N``
(telemetry). The latter two print ``| key | value |`` tables; Intel's guide shows no JSON
example for them, so their tables are read, by row label. Empty cells (a metric the card or the
user's privileges do not give, such as memory temperature without root) are absent.

``Mem Errors Correctable`` / ``Uncorrectable`` become the volatile ECC counters, so the ECC
health check judges them as it does NVIDIA's; ``Reset``, ``Driver Errors``, ``Programming Errors``
and the cache error counts are kept as extra counters. Why not Level Zero sysman directly: the
only Python binding on PyPI (``pyzes``) needs the native loader and driver to import, and no
recorded answers of it exist to test against; ``xpu-smi`` is Intel's supported tool and its
output is documented.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fleetproof.agent.collectors.base import DeviceReading
from fleetproof.agent.collectors.tooling import MIB, ToolCollector, ToolGarbage, box_rows, number, reading

__all__ = ["IntelCollector", "parse_discovery_detail", "parse_discovery_list", "parse_stats"]

_STATS = {
    "GPU Utilization (%)": ("utilization_percent", 1.0),
    "GPU Power (W)": ("power_w", 1.0),
    "GPU Frequency (MHz)": ("clock_sm_mhz", 1.0),
    "GPU Core Temperature (C)": ("temperature_c", 1.0),
    "GPU Memory Temperature (C)": ("memory_temperature_c", 1.0),
    "GPU Memory Bandwidth (%)": ("memory_utilization_percent", 1.0),
    "GPU Memory Used (MiB)": ("memory_used_bytes", float(MIB)),
    "GPU Memory Util (%)": ("memory_used_percent", 1.0),
    "Mem Errors Correctable": ("ecc_volatile_corrected_total", 1.0),
    "Mem Errors Uncorrectable": ("ecc_volatile_uncorrected_total", 1.0),
    "Reset": ("gpu_resets_total", 1.0),
    "Driver Errors": ("driver_errors_total", 1.0),
    "Programming Errors": ("programming_errors_total", 1.0),
    "Cache Errors Correctable": ("cache_errors_corrected_total", 1.0),
    "Cache Errors Uncorrectable": ("cache_errors_uncorrected_total", 1.0),
}


def parse_discovery_list(text: str) -> list[dict[str, Any]]:
    """The ``device_list`` of ``xpu-smi discovery -j``."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ToolGarbage(f"xpu-smi discovery -j: not JSON ({exc})") from exc
    devices = doc.get("device_list") if isinstance(doc, dict) else None
    if not isinstance(devices, list):
        raise ToolGarbage("xpu-smi discovery -j: no device_list")
    return [d for d in devices if isinstance(d, dict) and isinstance(d.get("device_id"), int)]


def parse_discovery_detail(text: str) -> dict[str, str]:
    """``Key: Value`` pairs from the second column of ``xpu-smi discovery -d N``."""
    fields: dict[str, str] = {}
    for cells in box_rows(text):
        if len(cells) >= 2 and ": " in cells[1]:
            key, value = cells[1].split(": ", 1)
            fields.setdefault(key.strip(), value.strip())
    return fields


def parse_stats(text: str) -> dict[str, float]:
    """Our metrics from the ``| label | value |`` rows of ``xpu-smi stats -d N``."""
    metrics: dict[str, float] = {}
    for cells in box_rows(text):
        if len(cells) < 2 or cells[0] not in _STATS:
            continue
        key, scale = _STATS[cells[0]]
        value = number(cells[1].split(";")[0])  # "0; Engine 0: 0": the device-level figure
        if value is not None:
            metrics[key] = value * scale
    return metrics


def build_reading(index: int, device: dict[str, Any], detail: str, stats: str) -> DeviceReading:
    fields = parse_discovery_detail(detail)
    metrics: dict[str, float | None] = dict(parse_stats(stats))
    size = fields.get("Memory Physical Size", "")
    total_mib = number(size) if size.endswith("MiB") else None
    metrics["memory_total_bytes"] = total_mib * MIB if total_mib is not None else None
    serial = fields.get("Serial Number")
    return reading(
        "intel",
        index,
        str(device.get("device_name") or fields.get("Device Name") or "Intel GPU"),
        str(device.get("uuid") or f"XE-{device.get('pci_bdf_address')}"),
        metrics,
        serial=serial if serial and serial.lower() not in {"unknown", "n/a"} else None,
        bus_id=device.get("pci_bdf_address") or fields.get("PCI BDF Address"),
        driver_version=fields.get("Driver Version"),
        firmware_version=fields.get("Firmware Version"),
    )


class IntelCollector(ToolCollector):
    name = vendor = "intel"
    default_tool = "xpu-smi"

    def commands(self) -> list[list[str]]:
        return [[self.tool, "discovery", "-j"]]

    def device_commands(self, device_id: int) -> list[list[str]]:
        return [[self.tool, "discovery", "-d", str(device_id)], [self.tool, "stats", "-d", str(device_id)]]

    def read(self) -> list[DeviceReading]:
        """The device list first; then two tables per listed device, all parsed together."""
        listing = self._runner(self.commands()[0])
        outputs = [listing]
        for device in parse_discovery_list(listing):
            outputs += [self._runner(argv) for argv in self.device_commands(device["device_id"])]
        readings = self.parse(outputs)
        if not readings:
            raise ToolGarbage(f"{self.tool}: discovery lists no device")
        return readings

    def parse(self, outputs: Sequence[str]) -> list[DeviceReading]:
        """``outputs``: the discovery JSON, then ``discovery -d`` and ``stats -d`` of each device in turn."""
        devices = parse_discovery_list(outputs[0])
        if len(outputs) != 1 + 2 * len(devices):
            raise ToolGarbage(f"{self.tool}: expected two tables for each of {len(devices)} devices")
        return [
            build_reading(i, device, outputs[1 + 2 * i], outputs[2 + 2 * i])
            for i, device in enumerate(devices)
        ]
