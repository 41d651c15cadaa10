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

from fleetproof.agent.collectors import tooling as t
from fleetproof.agent.collectors.base import DeviceReading

__all__ = ["MetaxCollector", "parse_mx_smi"]

_DRIVER_RE = re.compile(r"Kernel Mode Driver Version:\s*(\S+)")
_BIOS_RE = re.compile(r"BIOS Version:\s*(\S+)")
_LAYOUT = (("GPU", "NAME", "Bus-id", "GPU-Util"), ("Temp", "Pwr:Usage/Cap", "Memory-Usage"))


def _check_layout(text: str) -> None:
    headers = [" ".join(cells) for cells in t.box_rows(text) if cells[0].split()[:1] in (["GPU"], ["Temp"])]
    for words in _LAYOUT:
        if not any(all(w in h for w in words) for h in headers):
            raise t.ToolGarbage(f"mx-smi: unsupported table layout (no header with {', '.join(words)})")


def _gpu(model: str, block: list[list[str]]) -> t.Row:
    metrics = {
        **t.status_cell(block[1][0]),
        **t.memory(block[1][1]),
        "utilization_percent": t.number(block[0][2]),
    }
    return model, block[0][1] or None, metrics, {}


def parse_mx_smi(text: str) -> list[DeviceReading]:
    if "MX-SMI" not in text:
        return []
    _check_layout(text)
    driver, bios = t.search(_DRIVER_RE, text), t.search(_BIOS_RE, text)
    return t.smi_readings(text, "metax", "GPU", _gpu, driver_version=driver, firmware_version=bios)


MetaxCollector = t.tool_backend("metax", "mx-smi", parse_mx_smi)
