"""Moore Threads GPUs, by reading the table that ``mthreads-gmi`` (no arguments) prints.

Unlike the nvidia-smi-style tools, rows have no outer border; each GPU is a group of three
lines between ``+---+`` rules, cells split by ``|``::

    ID   Name                 |PCIe                |%GPU  Mem
         Device Type   Perf   |Pcie Lane Width     |Temp  MPC Capable
                                                   |      ECC Mode
    0    MTT S5000            |00000000:18:00.0    |0%    0MiB(81920MiB)
         Physical      P0     |16x(16x)            |48C   YES
                                                   |      On-die, EDC

with ``mthreads-gmi:X  Driver Version:Y`` above. The table has no power, UUID or serial
(``mthreads-gmi -q`` has, but no public capture of it was found), so power stays unread and
the bus id stands in for a UUID (``MTGPU-00000000:18:00.0``). The PCIe link width in use and its
maximum become ``pcie_link_width`` and ``pcie_link_width_max`` (a link trained below its width is
a classic sign of a badly seated card).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fleetproof.agent.collectors.base import DeviceReading, register
from fleetproof.agent.collectors.tooling import ToolCollector, number, reading, used_total

__all__ = ["MooreThreadsCollector", "parse_mthreads_gmi"]

_DRIVER_RE = re.compile(r"Driver Version:\s*(\S+)")
_LANES_RE = re.compile(r"(\d+)x\((\d+)x\)")
_TEMP_RE = re.compile(r"^(\d+(?:\.\d+)?)C\b")


def _groups(text: str) -> list[list[list[str]]]:
    """Line groups between ``+---`` rules after the column header; each line split on ``|``."""
    groups: list[list[list[str]]] = []
    current: list[list[str]] = []
    started = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("+-"):
            started = True
            if current:
                groups.append(current)
            current = []
            continue
        if not started:
            continue
        if not s or set(s) <= {"-"}:
            if current:
                groups.append(current)
            current = []
            if not s and groups:
                break
            continue
        current.append([c.strip() for c in line.split("|")])
    if current:
        groups.append(current)
    return groups


def parse_mthreads_gmi(text: str) -> list[DeviceReading]:
    m = _DRIVER_RE.search(text)
    driver = m.group(1) if m else None
    readings: list[DeviceReading] = []
    for group in _groups(text):
        if len(group) < 2 or min(len(row) for row in group[:2]) < 3:
            continue
        head = group[0][0].split(maxsplit=1)
        if len(head) < 2 or not head[0].isdigit():
            continue
        bus_id = group[0][1] or None
        util_mem = group[0][2].split(maxsplit=1)
        memory = used_total(util_mem[1]) if len(util_mem) > 1 else None
        lanes = _LANES_RE.search(group[1][1])
        temp = _TEMP_RE.match(group[1][2])
        metrics = {
            "utilization_percent": number(util_mem[0]) if util_mem else None,
            "memory_used_bytes": memory[0] if memory else None,
            "memory_total_bytes": memory[1] if memory else None,
            "temperature_c": float(temp.group(1)) if temp else None,
            "pcie_link_width": float(lanes.group(1)) if lanes else None,
            "pcie_link_width_max": float(lanes.group(2)) if lanes else None,
        }
        readings.append(
            reading(
                "moorethreads",
                len(readings),
                head[1].strip(),
                f"MTGPU-{bus_id}" if bus_id else f"MTGPU-index{head[0]}",
                metrics,
                bus_id=bus_id,
                driver_version=driver,
            )
        )
    return readings


class MooreThreadsCollector(ToolCollector):
    name = vendor = "moorethreads"
    default_tool = "mthreads-gmi"

    def commands(self) -> list[list[str]]:
        return [[self.tool]]

    def parse(self, outputs: Sequence[str]) -> list[DeviceReading]:
        return parse_mthreads_gmi(outputs[0])


register("moorethreads", MooreThreadsCollector)
