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

from fleetproof.agent.collectors import tooling as t
from fleetproof.agent.collectors.base import DeviceReading

__all__ = ["IluvatarCollector", "parse_ixsmi"]

_DRIVER_RE = re.compile(r"Driver Version:\s*(\S+)")


def _gpu(model: str, block: list[list[str]]) -> t.Row:
    (_, bus, clocks), (status, mem, util_mode, *_) = block[0], block[1]
    metrics = {
        **t.status_cell(status),
        **t.memory(mem),
        "clock_sm_mhz": t.word(clocks, 0),
        "clock_memory_mhz": t.word(clocks, 1),
        "utilization_percent": t.word(util_mode, 0),
    }
    return model, bus or None, metrics, {}


def parse_ixsmi(text: str) -> list[DeviceReading]:
    return t.smi_readings(text, "iluvatar", "GPU", _gpu, driver_version=t.search(_DRIVER_RE, text))


IluvatarCollector = t.tool_backend("iluvatar", "ixsmi", parse_ixsmi)
