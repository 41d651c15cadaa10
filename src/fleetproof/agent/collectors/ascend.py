"""Huawei Ascend NPUs, by parsing the table that ``npu-smi info`` prints.

``npu-smi info`` is a read-only query. Each NPU takes two table rows::

    | 0     910B3               | OK            | 93.6        36                0    / 0             |
    | 0                         | 0000:C1:00.0  | 0           0    / 0          3161 / 65536         |

row one: NPU id, name, health, power (W), temperature (°C), huge pages; row
two: chip id, bus id, AI Core use (%), memory used / total (MB), HBM used /
total (MB). Inference cards (310, 310P) print ``Chip Device`` in the first cell
of row two (chip id, then logical device id), have no HBM column (their memory
is the last ``used / total`` pair), and often print ``NA`` for power. A card with
two chips (Atlas 300I Duo, 310P3) repeats the NPU row once per chip, and both
chips report the card's bus id. Parsing goes by position within each ``|``
cell; the layout is the same in the published outputs of driver releases 23.x
to 25.x. ``npu-smi info`` shows no UUID, so the bus id stands in for one:
``NPU-<bus id>`` for chip 0, ``NPU-<bus id>-chip<N>`` for the card's other chips.
The command runs through the shared :class:`~fleetproof.agent.collectors.tooling.ToolRunner`
(deadline, no shell); the runner is injectable so tests feed recorded output.
"""

from __future__ import annotations

import contextlib
import re

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading
from fleetproof.agent.collectors.tooling import tool_backend
from fleetproof.agent.setting import Option, Setting

__all__ = ["AscendCollector", "parse_npu_smi_info"]

MB = 1024 * 1024
_VERSION_RE = re.compile(r"npu-smi\s+(\S+)\s+Version:\s*(\S+)")
_USED_TOTAL_RE = re.compile(r"(\d+)\s*/\s*(\d+)")


def _cells(line: str) -> list[str] | None:
    if not line.startswith("|"):
        return None
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_npu_smi_info(text: str) -> list[DeviceReading]:
    """Readings from ``npu-smi info`` output (the process table below the devices is ignored)."""
    m = _VERSION_RE.search(text)
    driver = m.group(2) if m else None
    rows = [c for c in (_cells(line) for line in text.splitlines()) if c and len(c) == 3]
    readings: list[DeviceReading] = []
    i = 0
    while i + 1 < len(rows):
        first, second = rows[i], rows[i + 1]
        head = first[0].split()
        if (
            len(head) < 2
            or not head[0].isdigit()
            or not second[0].split()
            or not second[0].split()[0].isdigit()
        ):
            i += 1
            continue
        readings.append(_reading(first, second, driver, len(readings)))
        i += 2
    return readings


def _reading(first: list[str], second: list[str], driver: str | None, index: int) -> DeviceReading:
    _npu_id, name = first[0].split(maxsplit=1)
    bus_id = second[1]
    chip = second[0].split()[0]
    uuid = f"NPU-{bus_id}" if chip == "0" else f"NPU-{bus_id}-chip{chip}"
    stats = first[2].split()
    hbm = _USED_TOTAL_RE.findall(second[2])
    total_mb = int(hbm[-1][1]) if hbm else None
    info = DeviceInfo(
        index=index,
        vendor="ascend",
        model=f"Ascend {name.strip()}",
        uuid=uuid,
        bus_id=bus_id,
        driver_version=driver,
        memory_total_bytes=total_mb * MB if total_mb else None,
    )
    reading = DeviceReading(info=info, vendor_health=first[1])
    metrics = reading.metrics
    if len(stats) >= 2:
        for key, raw in (("power_w", stats[0]), ("temperature_c", stats[1])):
            with contextlib.suppress(ValueError):  # "NA" when the board does not report it
                metrics[key] = float(raw)
    aicore = second[2].split()
    if aicore and aicore[0].replace(".", "", 1).isdigit():
        metrics["utilization_percent"] = float(aicore[0])
    if hbm:
        used, total = (int(v) for v in hbm[-1])
        metrics["memory_used_bytes"] = float(used * MB)
        metrics["memory_total_bytes"] = float(total * MB)
    return reading


NPU_SMI_PATH = Setting("npu_smi_path", "npu-smi", "The Ascend `npu-smi` program.")

AscendCollector = tool_backend(
    "ascend",
    "npu-smi",
    parse_npu_smi_info,
    "info",
    option="npu_smi",
    options=(Option(NPU_SMI_PATH, "npu_smi"),),
)
