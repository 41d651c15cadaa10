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

from fleetproof.agent.collectors import tooling as t
from fleetproof.agent.collectors.base import DeviceReading

__all__ = ["KunlunxinCollector", "parse_xpu_smi"]

_DRIVER_RE = re.compile(r"Driver Version:\s*(\S+)")


def _xpu(rest: str, block: list[list[str]]) -> t.Row:
    name = rest.split()[:-1] or rest.split()  # the last t.word is Persistence-M
    l3 = t.used_total(block[2][1]) if len(block) > 2 and len(block[2]) > 1 else None
    metrics = {
        **t.status_cell(block[1][0]),
        **t.memory(block[1][1]),
        "ecc_volatile_uncorrected_total": t.number(block[0][2]),
        "utilization_percent": t.word(block[1][2], 0),
        "l3_memory_used_bytes": l3[0] if l3 else None,
        "l3_memory_total_bytes": l3[1] if l3 else None,
    }
    bus_id = block[0][1].split()[0] if block[0][1] else None  # "00000000:03:00.0 N/A": bus id, Disp.A
    return "Kunlunxin " + " ".join(name), bus_id, metrics, {}


def parse_xpu_smi(text: str) -> list[DeviceReading]:
    return t.smi_readings(text, "kunlunxin", "XPU", _xpu, driver_version=t.search(_DRIVER_RE, text))


KunlunxinCollector = t.tool_backend("kunlunxin", "xpu_smi", parse_xpu_smi)
