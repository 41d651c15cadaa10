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

from fleetproof.agent.collectors import tooling as t
from fleetproof.agent.collectors.base import DeviceReading

__all__ = ["CambriconCollector", "parse_cnmon"]

_DRIVER_RE = re.compile(r"Driver\s+v?(\S+)")
_BUS_RE = re.compile(r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$")


def _card(rest: str, block: list[list[str]]) -> t.Row:
    vf_name_firmware = rest.split()
    firmware = vf_name_firmware.pop() if vf_name_firmware[-1].startswith("v") else None
    (_, bus, util_ecc), (status, mem, *_) = block[0], block[1]
    metrics = {
        **t.status_cell(status),
        **t.memory(mem),
        "utilization_percent": t.word(util_ecc, 0),
        "ecc_errors_total": t.word(util_ecc, 1),
    }
    model = " ".join(vf_name_firmware[1:]) or "MLU"
    return model, bus if _BUS_RE.match(bus) else None, metrics, {"firmware_version": firmware}


def parse_cnmon(text: str) -> list[DeviceReading]:
    """Readings from ``cnmon`` output; blocks that do not look like a card are skipped."""
    return t.smi_readings(text, "cambricon", "MLU", _card, driver_version=t.search(_DRIVER_RE, text))


CambriconCollector = t.tool_backend("cambricon", "cnmon", parse_cnmon)
