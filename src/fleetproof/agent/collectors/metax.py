"""MetaX GPUs, by reading the table that ``mx-smi`` (no arguments) prints.

mx-smi 2.2 prints each GPU as two rows::

    | GPU         NAME                   | Bus-id              | GPU-Util             |
    | Temp        Pwr:Usage/Cap          | Memory-Usage        | GPU-State            |
    | 0           MetaX C550             | 0000:0f:00.0        | 0%                   |
    | 29C         53W / 450W             | 858/65536 MiB       | Available            |

with ``Kernel Mode Driver Version`` and ``BIOS Version`` in the title rows. Other releases
move these columns (2.1 prints ``Power`` without a cap, 2.3 starts with ``Board Name``); the
column headers are checked first, and a layout other than this one is reported as unreadable
output instead of being read by the wrong positions. No UUID is shown, so the bus id stands in
(``GPU-0000:0f:00.0``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fleetproof.agent.collectors.base import DeviceReading, register
from fleetproof.agent.collectors.tooling import (
    ToolCollector,
    ToolGarbage,
    box_rows,
    number,
    reading,
    status_cell,
    table_blocks,
    used_total,
)

__all__ = ["MetaxCollector", "parse_mx_smi"]

_DRIVER_RE = re.compile(r"Kernel Mode Driver Version:\s*(\S+)")
_BIOS_RE = re.compile(r"BIOS Version:\s*(\S+)")
_LAYOUT = (("GPU", "NAME", "Bus-id", "GPU-Util"), ("Temp", "Pwr:Usage/Cap", "Memory-Usage"))


def _check_layout(text: str) -> None:
    headers = [
        " ".join(cells) for cells in box_rows(text) if cells and cells[0].split()[:1] in (["GPU"], ["Temp"])
    ]
    for words in _LAYOUT:
        if not any(all(w in h for w in words) for h in headers):
            raise ToolGarbage(f"mx-smi: unsupported table layout (no header with {', '.join(words)})")


def parse_mx_smi(text: str) -> list[DeviceReading]:
    if "MX-SMI" not in text:
        return []
    _check_layout(text)
    driver, bios = _DRIVER_RE.search(text), _BIOS_RE.search(text)
    readings: list[DeviceReading] = []
    for block in table_blocks(text):
        if len(block) < 2 or min(len(row) for row in block[:2]) < 3:
            continue
        head = block[0][0].split(maxsplit=1)
        if len(head) < 2 or not head[0].isdigit():
            continue
        bus_id = block[0][1] or None
        memory = used_total(block[1][1])
        metrics = {
            **status_cell(block[1][0]),
            "utilization_percent": number(block[0][2]),
            "memory_used_bytes": memory[0] if memory else None,
            "memory_total_bytes": memory[1] if memory else None,
        }
        readings.append(
            reading(
                "metax",
                len(readings),
                head[1].strip(),
                f"GPU-{bus_id}" if bus_id else f"GPU-index{head[0]}",
                metrics,
                bus_id=bus_id,
                driver_version=driver.group(1) if driver else None,
                firmware_version=bios.group(1) if bios else None,
            )
        )
    return readings


class MetaxCollector(ToolCollector):
    name = vendor = "metax"
    default_tool = "mx-smi"

    def commands(self) -> list[list[str]]:
        return [[self.tool]]

    def parse(self, outputs: Sequence[str]) -> list[DeviceReading]:
        return parse_mx_smi(outputs[0])


register("metax", MetaxCollector)
