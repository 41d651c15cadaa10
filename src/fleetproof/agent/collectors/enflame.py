"""Enflame GCUs, by reading the table that ``efsmi`` (no arguments) prints.

The box is drawn with ``*`` borders and ``|`` column rules; each GCU takes two rows::

    * DEV    NAME                | FW VER          | BUS-ID     ECC           *
    * TEMP   DPM   Pwr(Usage/Cap)| Mem         vGCU| DEV-Util   UUID          *
    * 0      T20                 | 10.19.3         | 00:3d:0.0  Enable        *
    * 30C    Sleep   48.0W  300W | 32G      Disable|   0.0%     W28001210504  *

with ``Driver Ver:`` in the title. ``efsmi`` prints its own UUID column, used as the device id.
The table shows total memory but not memory in use, so ``memory_used_bytes`` stays unread.
"""

from __future__ import annotations

import itertools
import re

from fleetproof.agent.collectors.base import DeviceReading
from fleetproof.agent.collectors.tooling import GIB, MIB, number, reading, tool_backend

__all__ = ["EnflameCollector", "parse_efsmi"]

_DRIVER_RE = re.compile(r"Driver Ver:\s*(\S+)")
_STATUS_RE = re.compile(r"^(\d+(?:\.\d+)?)C\s+(\S+)\s+(\S+?)W\s+(\S+?)W$")
_MEM_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(G|MiB)\b")


def _rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("*") and "|" in s:
            rows.append([c.strip() for c in s.strip("*").split("|")])
    return rows


def parse_efsmi(text: str) -> list[DeviceReading]:
    m = _DRIVER_RE.search(text)
    driver = m.group(1) if m else None
    rows = _rows(text)
    readings: list[DeviceReading] = []
    for first, second in itertools.pairwise(rows):
        head = first[0].split()
        status = _STATUS_RE.match(second[0]) if second else None
        if len(first) < 3 or len(second) < 3 or len(head) < 2 or not head[0].isdigit() or not status:
            continue
        bus_ecc = first[2].split()
        util_uuid = second[2].split()
        mem = _MEM_RE.match(second[1])
        total = float(mem.group(1)) * (GIB if mem.group(2) == "G" else MIB) if mem else None
        metrics = {
            "temperature_c": float(status.group(1)),
            "power_w": number(status.group(3)),
            "power_limit_w": number(status.group(4)),
            "utilization_percent": number(util_uuid[0]) if util_uuid else None,
            "memory_total_bytes": total,
        }
        uuid = util_uuid[1] if len(util_uuid) > 1 else f"GCU-index{head[0]}"
        readings.append(
            reading(
                "enflame",
                len(readings),
                f"Enflame {' '.join(head[1:])}",
                uuid,
                metrics,
                bus_id=bus_ecc[0] if bus_ecc else None,
                driver_version=driver,
                firmware_version=first[1] or None,
            )
        )
    return readings


EnflameCollector = tool_backend("enflame", "efsmi", parse_efsmi)
