"""Iluvatar CoreX GPUs, by reading the table that ``ixsmi`` (no arguments) prints.

``ixsmi`` follows nvidia-smi's layout; each GPU takes two rows::

    | GPU  Name                     | Bus-Id               | Clock-SM  Clock-Mem  |
    | Fan  Temp  Perf  Pwr:Usage/Cap|      Memory-Usage    | GPU-Util  Compute M. |
    | 0    Iluvatar BI-V150         | 00000000:13:00.0     | 1500MHz   1600MHz    |
    | N/A  35C   P0    N/A / N/A    | 64MiB / 32768MiB     | 0%        Default    |

with ``IX-ML: X  Driver Version: Y`` in the title row. A BI-V150 board carries two chips and
only one of them reports power; the other prints ``N/A / N/A``, so power is absent for it
(absent, not zero). The table shows no UUID, so the bus id stands in (``GPU-00000000:13:00.0``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fleetproof.agent.collectors.base import DeviceReading, register
from fleetproof.agent.collectors.tooling import (
    ToolCollector,
    number,
    reading,
    status_cell,
    table_blocks,
    used_total,
)

__all__ = ["IluvatarCollector", "parse_ixsmi"]

_DRIVER_RE = re.compile(r"Driver Version:\s*(\S+)")


def parse_ixsmi(text: str) -> list[DeviceReading]:
    m = _DRIVER_RE.search(text)
    driver = m.group(1) if m else None
    readings: list[DeviceReading] = []
    for block in table_blocks(text):
        if len(block) < 2 or min(len(row) for row in block[:2]) < 3:
            continue
        head = block[0][0].split(maxsplit=1)
        if len(head) < 2 or not head[0].isdigit():
            continue
        bus_id = block[0][1] or None
        clocks = block[0][2].split()
        memory = used_total(block[1][1])
        util = block[1][2].split()
        metrics = {
            **status_cell(block[1][0]),
            "clock_sm_mhz": number(clocks[0]) if clocks else None,
            "clock_memory_mhz": number(clocks[1]) if len(clocks) > 1 else None,
            "utilization_percent": number(util[0]) if util else None,
            "memory_used_bytes": memory[0] if memory else None,
            "memory_total_bytes": memory[1] if memory else None,
        }
        readings.append(
            reading(
                "iluvatar",
                len(readings),
                head[1].strip(),
                f"GPU-{bus_id}" if bus_id else f"GPU-index{head[0]}",
                metrics,
                bus_id=bus_id,
                driver_version=driver,
            )
        )
    return readings


class IluvatarCollector(ToolCollector):
    name = vendor = "iluvatar"
    default_tool = "ixsmi"

    def commands(self) -> list[list[str]]:
        return [[self.tool]]

    def parse(self, outputs: Sequence[str]) -> list[DeviceReading]:
        return parse_ixsmi(outputs[0])


register("iluvatar", IluvatarCollector)
