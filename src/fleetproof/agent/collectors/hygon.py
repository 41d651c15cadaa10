"""Hygon DCUs, by reading the table that ``hy-smi`` (no arguments) prints.

The table is whitespace-aligned, one row per DCU under a header row::

    DCU     Temp     AvgPwr     Perf     PwrCap     VRAM%      DCU%      Mode
    0       49.0C    118.0W     auto     800.0W     0%         0%        Normal

Columns are found by their header words, because releases differ (DTK 23.10 adds ``Fan`` and
drops ``Mode``). The table names no model, driver, id or memory size, so: the model is
"Hygon DCU"; the DCU index stands in for an id (``DCU-0``), which follows the tool's numbering and
so changes if cards are moved; ``VRAM%`` is kept as ``vram_used_percent`` because the bytes behind
it are not shown. Why not the kernel's sysfs files under /sys/class/drm, which would give bytes
and an id: no public capture of a Hygon sysfs tree was found to test a reader against.
"""

from __future__ import annotations

from fleetproof.agent.collectors.base import DeviceReading
from fleetproof.agent.collectors.tooling import number, reading, tool_backend

__all__ = ["HygonCollector", "parse_hy_smi"]

_COLUMNS = {
    "Temp": "temperature_c",
    "AvgPwr": "power_w",
    "PwrCap": "power_limit_w",
    "Fan": "fan_speed_percent",
    "VRAM%": "vram_used_percent",
    "DCU%": "utilization_percent",
}


def parse_hy_smi(text: str) -> list[DeviceReading]:
    header: list[str] | None = None
    readings: list[DeviceReading] = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "DCU" and "Temp" in words:
            header = words
            continue
        if header is None or not words[0].isdigit() or len(words) != len(header):
            continue
        row = dict(zip(header, words, strict=True))
        metrics = {key: number(row.get(column)) for column, key in _COLUMNS.items()}
        readings.append(reading("hygon", len(readings), "Hygon DCU", f"DCU-{words[0]}", metrics))
    return readings


HygonCollector = tool_backend("hygon", "hy-smi", parse_hy_smi)
