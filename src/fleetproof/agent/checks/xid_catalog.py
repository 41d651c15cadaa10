"""NVIDIA Xid codes: what each means, how bad it is, and what to do — from NVIDIA's own catalog.

``xid_catalog.csv`` beside this module holds every code of NVIDIA's published Xid catalog for
Ampere and later GPUs (the revision covering driver R575 / CUDA 12.9: codes 1 to 172) as facts:
mnemonic, description, and NVIDIA's *immediate* resolution bucket (what brings the GPU back
into service) and *investigatory* bucket (what to look into if it repeats). Nothing here is
rated by hand: the severity that drives health follows from NVIDIA's immediate bucket by one
table, :data:`SEVERITY_OF_REPAIR`:

* ``critical`` (the device is unhealthy): the GPU must be reset, the node rebooted, or the
  board's seating and power checked before it is fit for work;
* ``warning`` (degraded): NVIDIA asks for follow-up without taking the GPU out — contact
  support, update software, restart the VM, decode the NVLink5 error registers — and codes
  the catalog gives no bucket;
* ``info`` (counted, health unchanged): NVIDIA says ignore, restart the application (the GPU
  stays good; Xid 13, 31, 43, 94), or follow the accompanying Xid (45, 154).

Xid 154 summarises the recovery action another Xid needs ("GPU recovery action changed from
0x0 (None) to 0x2 (Node Reboot Required)"): when its message is known, that action decides.

The repair actions are a small enum (:class:`Repair`) plus a sentence; NVIDIA's bucket names
stay on every entry (``immediate``, ``investigatory``) for whoever wants the catalog's words.
"""

from __future__ import annotations

import csv
import enum
import pkgutil
import re
from dataclasses import dataclass

__all__ = ["SEVERITY_OF_REPAIR", "XID_CATALOG", "Repair", "XidInfo", "describe"]


class Repair(enum.Enum):
    """What to do now, after NVIDIA's immediate resolution bucket."""

    NONE = "none"
    RESTART_APP = "restart_app"
    RESET_GPU = "reset_gpu"
    REBOOT = "reboot"
    RESTART_VM = "restart_vm"
    CHECK_HARDWARE = "check_hardware"
    UPDATE_SOFTWARE = "update_software"
    CONTACT_SUPPORT = "contact_support"
    DECODE = "decode"  # the Xid's own registers or companion Xid decide


ACTION_TEXT: dict[Repair, str] = {
    Repair.NONE: "No action needed for the GPU.",
    Repair.RESTART_APP: "Restart the affected application; the GPU needs no reset.",
    Repair.RESET_GPU: "Drain the node's jobs and reset the GPU (or reboot the host).",
    Repair.REBOOT: "Drain the node and reboot the host.",
    Repair.RESTART_VM: "Restart the virtual machine that owns the GPU.",
    Repair.CHECK_HARDWARE: "Check the board's seating and its power and other connections.",
    Repair.UPDATE_SOFTWARE: "Update the GPU driver and firmware to matching current versions.",
    Repair.CONTACT_SUPPORT: "Contact your hardware or NVIDIA support with the Xid message.",
    Repair.DECODE: "Decode the Xid message's registers with NVIDIA's Xid catalog to choose the action.",
}

#: NVIDIA immediate bucket -> repair.
_BUCKET_REPAIR: dict[str, Repair] = {
    "IGNORE": Repair.NONE,
    "RESTART_APP": Repair.RESTART_APP,
    "RESET_GPU": Repair.RESET_GPU,
    "RESTART_BM": Repair.REBOOT,
    "RESTART_VM": Repair.RESTART_VM,
    "CHECK_MECHANICALS": Repair.CHECK_HARDWARE,
    "UPDATE_SWFW": Repair.UPDATE_SOFTWARE,
    "CONTACT_SUPPORT": Repair.CONTACT_SUPPORT,
    # Xid 48 alone: reset the GPU (with 63/64: drain and reset). Xid 74: a reset or reboot clears it.
    "WORKFLOW_XID_48": Repair.RESET_GPU,
    "WORKFLOW_NVLINK_ERR": Repair.RESET_GPU,
    # Xid 45 follows the Xid that caused it; Xid 154 carries the action of another Xid.
    "WORKFLOW_XID_45": Repair.NONE,
    "XID_154": Repair.NONE,
    "WORKFLOW_NVLINK5_ERR": Repair.DECODE,
    "CHECK_UVM": Repair.DECODE,
    "": Repair.CONTACT_SUPPORT,
}

SEVERITY_OF_REPAIR: dict[Repair, str] = {
    Repair.RESET_GPU: "critical",
    Repair.REBOOT: "critical",
    Repair.CHECK_HARDWARE: "critical",
    Repair.RESTART_VM: "warning",
    Repair.UPDATE_SOFTWARE: "warning",
    Repair.CONTACT_SUPPORT: "warning",
    Repair.DECODE: "warning",
    Repair.NONE: "info",
    Repair.RESTART_APP: "info",
}


@dataclass(frozen=True)
class XidInfo:
    code: int
    name: str  # NVIDIA's short description
    severity: str  # "critical" | "warning" | "info"
    action: str  # what to do, one sentence
    repair: Repair = Repair.CONTACT_SUPPORT
    mnemonic: str = ""
    immediate: str = ""  # NVIDIA's immediate resolution bucket ("" where the catalog gives none)
    investigatory: str = ""  # NVIDIA's investigatory resolution bucket


def _action(repair: Repair, investigatory: str, note: str) -> str:
    text = note or ACTION_TEXT[repair]
    if investigatory and not investigatory.startswith(("IGNORE", "N/A")):
        text += f" If it repeats: {investigatory} (NVIDIA's investigatory action)."
    return text


def _load() -> dict[int, XidInfo]:
    # pkgutil rather than importlib.resources: the same package data (zipped packages included)
    # without importing zipfile, tempfile and the resources readers into the agent (0.5 MB).
    data = pkgutil.get_data(__package__ or __name__.rpartition(".")[0], "xid_catalog.csv")
    if data is None:  # a loader that cannot read package data: the package is broken
        raise RuntimeError("the Xid catalog (xid_catalog.csv) is missing from the package")
    raw = data.decode("utf-8")
    rows = csv.DictReader(line for line in raw.splitlines() if not line.startswith("#"))
    catalog = {}
    for row in rows:
        repair = _BUCKET_REPAIR[row["immediate"]]
        code = int(row["code"])
        severity = SEVERITY_OF_REPAIR[repair]
        if not row["immediate"] and code == 162:
            repair, severity = Repair.NONE, "info"  # "capability reengaged": good news
        catalog[code] = XidInfo(
            code=code,
            name=row["description"],
            severity=severity,
            action=_action(repair, row["investigatory"], row["note"]),
            repair=repair,
            mnemonic=row["mnemonic"],
            immediate=row["immediate"],
            investigatory=row["investigatory"],
        )
    return catalog


XID_CATALOG: dict[int, XidInfo] = _load()

# The recovery action named in an Xid 154 message, as the driver writes it.
_RECOVERY = re.compile(r"to 0x[0-9a-fA-F]+ \(([^)]*)\)")
_RECOVERY_REPAIR = {
    "none": (Repair.NONE, "info"),
    "drain p2p": (Repair.CONTACT_SUPPORT, "warning"),
    "drain and reset": (Repair.RESET_GPU, "critical"),
    "gpu reset required": (Repair.RESET_GPU, "critical"),
    "node reboot required": (Repair.REBOOT, "critical"),
}


def describe(code: int, message: str = "") -> XidInfo:
    """The catalog entry for ``code``; an unknown code is a warning that asks for a look-up.

    >>> describe(79).severity, describe(79).repair.value
    ('critical', 'reboot')
    >>> describe(94).severity
    'info'
    >>> describe(154, "GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)").severity
    'critical'
    >>> describe(9999).severity
    'warning'
    """
    info = XID_CATALOG.get(code)
    if info is None:
        return XidInfo(
            code,
            f"Xid {code} (not in the catalog)",
            "warning",
            "Look the code up in NVIDIA's Xid catalog.",
        )
    if code == 154 and message:
        m = _RECOVERY.search(message)
        found = _RECOVERY_REPAIR.get(m[1].strip().lower()) if m else None
        if found is not None:
            repair, severity = found
            what = f"The driver asks for: {m[1].strip()}." if m else ""
            return XidInfo(
                code,
                info.name,
                severity,
                f"{what} {ACTION_TEXT[repair]}".strip(),
                repair,
                info.mnemonic,
                info.immediate,
                info.investigatory,
            )
    return info
