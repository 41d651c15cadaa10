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

from fleetproof.agent.collectors import tooling as t
from fleetproof.agent.collectors.base import DeviceReading

__all__ = ["MooreThreadsCollector", "parse_mthreads_gmi"]

_DRIVER_RE = re.compile(r"Driver Version:\s*(\S+)")
_LANES_RE = re.compile(r"(\d+)x\((\d+)x\)")
_TEMP_RE = re.compile(r"^(\d+(?:\.\d+)?)C\b")


def _gpu(model: str, block: list[list[str]]) -> t.Row:
    util, _, mem = block[0][2].partition(" ")
    used, total = t.used_total(mem) or (None, None)
    lanes = _LANES_RE.search(block[1][1])
    width, width_max = (float(lanes.group(1)), float(lanes.group(2))) if lanes else (None, None)
    metrics = {
        "utilization_percent": t.number(util),
        "memory_used_bytes": used,
        "memory_total_bytes": total,
        "temperature_c": t.number(t.search(_TEMP_RE, block[1][2])),
        "pcie_link_width": width,
        "pcie_link_width_max": width_max,
    }
    return model, block[0][1] or None, metrics, {}


def parse_mthreads_gmi(text: str) -> list[DeviceReading]:
    driver = t.search(_DRIVER_RE, text)
    return t.smi_readings(text, "moorethreads", "MTGPU", _gpu, bordered=False, driver_version=driver)


MooreThreadsCollector = t.tool_backend("moorethreads", "mthreads-gmi", parse_mthreads_gmi)
