"""Kunlunxin XPUs, by reading the table that ``xpu_smi`` (no arguments) prints.

The layout follows nvidia-smi: each XPU takes three rows of a three-column box table::

    | XPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
    | Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | XPU-Util  Compute M. |
    |                               |             L3-Usage |            SR-IOV M. |
    |   0  P800 OAM           N/A   | 00000000:03:00.0 N/A |                    0 |
    | N/A   37C  N/A     88W / 400W |      0MiB / 98304MiB |      0%      Default |
    |                               |      0MiB /    96MiB |             Disabled |

The title row carries ``Driver Version``. ``Volatile Uncorr. ECC`` becomes
``ecc_volatile_uncorrected_total``, so the ECC health check judges it as it does NVIDIA's.
The table shows no UUID or serial, so the bus id stands in (``XPU-00000000:03:00.0``). The
on-chip L3 memory row becomes ``l3_memory_used_bytes`` / ``l3_memory_total_bytes``.
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

__all__ = ["KunlunxinCollector", "parse_xpu_smi"]

_DRIVER_RE = re.compile(r"Driver Version:\s*(\S+)")


def parse_xpu_smi(text: str) -> list[DeviceReading]:
    m = _DRIVER_RE.search(text)
    driver = m.group(1) if m else None
    readings: list[DeviceReading] = []
    for block in table_blocks(text):
        if len(block) < 2 or min(len(row) for row in block[:2]) < 3:
            continue
        head = block[0][0].split()
        if len(head) < 2 or not head[0].isdigit():
            continue
        name = " ".join(head[1:-1]) if len(head) > 2 else head[1]
        bus_id = block[0][1].split()[0] if block[0][1] else None
        memory = used_total(block[1][1])
        l3 = used_total(block[2][1]) if len(block) > 2 and len(block[2]) > 1 else None
        util = block[1][2].split()
        metrics = {
            **status_cell(block[1][0]),
            "ecc_volatile_uncorrected_total": number(block[0][2]),
            "utilization_percent": number(util[0]) if util else None,
            "memory_used_bytes": memory[0] if memory else None,
            "memory_total_bytes": memory[1] if memory else None,
            "l3_memory_used_bytes": l3[0] if l3 else None,
            "l3_memory_total_bytes": l3[1] if l3 else None,
        }
        readings.append(
            reading(
                "kunlunxin",
                len(readings),
                f"Kunlunxin {name}",
                f"XPU-{bus_id}" if bus_id else f"XPU-index{head[0]}",
                metrics,
                bus_id=bus_id,
                driver_version=driver,
            )
        )
    return readings


class KunlunxinCollector(ToolCollector):
    name = vendor = "kunlunxin"
    default_tool = "xpu_smi"

    def commands(self) -> list[list[str]]:
        return [[self.tool]]

    def parse(self, outputs: Sequence[str]) -> list[DeviceReading]:
        return parse_xpu_smi(outputs[0])


register("kunlunxin", KunlunxinCollector)
