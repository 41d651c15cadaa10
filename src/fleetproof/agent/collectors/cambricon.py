"""Cambricon MLU cards, by reading the table that ``cnmon`` (no arguments) prints.

Each card takes two rows of a three-column box table (CNMON v5.10)::

    | Card  VF  Name       Firmware |               Bus-Id | Util        Ecc-Error |
    | Fan   Temp      Pwr:Usage/Cap |         Memory-Usage | SR-IOV   Compute-Mode |
    | 0     /   MLU370-X8    v1.1.6 |         0000:39:00.0 | 0%                N/A |
    |  0%   32C        106 W/ 250 W |     0 MiB/ 23374 MiB | N/A           Default |

and the title row carries ``CNMON vX`` and ``Driver vY``. ``cnmon`` shows no UUID or serial
number, so the bus id stands in for one (``MLU-0000:39:00.0``), as the Ascend collector does.
``Ecc-Error`` is kept as ``ecc_errors_total`` without a corrected/uncorrected split: the public
output shows only ``N/A``, so what the count covers is not known. Why the default table and not
``cnmon info``: it is the only output with a complete public capture (see tests/fixtures/cambricon).
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

__all__ = ["CambriconCollector", "parse_cnmon"]

_DRIVER_RE = re.compile(r"Driver\s+v?(\S+)")
_BUS_RE = re.compile(r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$")


def parse_cnmon(text: str) -> list[DeviceReading]:
    """Readings from ``cnmon`` output; blocks that do not look like a card are skipped."""
    m = _DRIVER_RE.search(text)
    driver = m.group(1) if m else None
    readings: list[DeviceReading] = []
    for block in table_blocks(text):
        if len(block) < 2 or len(block[0]) < 3 or len(block[1]) < 2:
            continue
        head = block[0][0].split()
        if len(head) < 3 or not head[0].isdigit():
            continue
        card, firmware = int(head[0]), head[-1] if head[-1].startswith("v") else None
        name = " ".join(head[2:-1] if firmware else head[2:])
        bus_id = block[0][1] if _BUS_RE.match(block[0][1]) else None
        util_ecc = block[0][2].split()
        memory = used_total(block[1][1])
        metrics = {
            **status_cell(block[1][0]),
            "utilization_percent": number(util_ecc[0]) if util_ecc else None,
            "ecc_errors_total": number(util_ecc[1]) if len(util_ecc) > 1 else None,
            "memory_used_bytes": memory[0] if memory else None,
            "memory_total_bytes": memory[1] if memory else None,
        }
        uuid = f"MLU-{bus_id}" if bus_id else f"MLU-card{card}"
        readings.append(
            reading(
                "cambricon",
                len(readings),
                name or "MLU",
                uuid,
                metrics,
                bus_id=bus_id,
                driver_version=driver,
                firmware_version=firmware,
            )
        )
    return readings


class CambriconCollector(ToolCollector):
    name = vendor = "cambricon"
    default_tool = "cnmon"

    def commands(self) -> list[list[str]]:
        return [[self.tool]]

    def parse(self, outputs: Sequence[str]) -> list[DeviceReading]:
        return parse_cnmon(outputs[0])


register("cambricon", CambriconCollector)
