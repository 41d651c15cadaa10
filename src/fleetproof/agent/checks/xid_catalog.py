"""Well-known NVIDIA Xid codes: what each means, how bad it is, and what to do.

Severity ``critical`` makes the device unhealthy, ``warning`` degraded, and
``info`` is recorded without changing health (these usually point at the
application, not the GPU). Codes not in the catalog count as warnings. Meanings
follow NVIDIA's published Xid documentation.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["XID_CATALOG", "XidInfo", "describe"]

RESET = "Drain the node's jobs and reset the GPU (or reboot the host)."
REBOOT = "Drain the node and reboot the host; if it recurs, send the board for hardware inspection."
INSPECT = "Drain the node and send the board for hardware inspection (RMA)."
APP = "Usually an application fault: check the job's logs; run GPU diagnostics if it repeats."
WATCH = "Watch for repeats; run GPU diagnostics at the next maintenance window."


@dataclass(frozen=True)
class XidInfo:
    code: int
    name: str
    severity: str  # "critical" | "warning" | "info"
    action: str


_ENTRIES = [
    (8, "GPU stopped processing (timeout)", "warning", APP),
    (13, "Graphics engine exception", "info", APP),
    (31, "GPU memory page fault", "info", APP),
    (32, "Invalid or corrupted push buffer stream", "warning", APP),
    (38, "Driver firmware error", "critical", RESET),
    (43, "GPU stopped processing", "info", APP),
    (45, "Preemptive cleanup, due to previous errors", "info", APP),
    (48, "Double-bit ECC error", "critical", RESET),
    (56, "Display engine error", "warning", WATCH),
    (57, "Error programming video memory interface", "critical", INSPECT),
    (61, "Internal micro-controller breakpoint/warning", "warning", RESET),
    (62, "Internal micro-controller halt", "critical", RESET),
    (63, "ECC page retirement or row remapping recorded", "warning", RESET),
    (64, "ECC page retirement or row remapping failure", "critical", INSPECT),
    (68, "Video processor exception", "warning", WATCH),
    (69, "Graphics engine class error", "warning", APP),
    (74, "NVLink error", "critical", RESET),
    (79, "GPU has fallen off the bus", "critical", REBOOT),
    (92, "High single-bit ECC error rate", "warning", WATCH),
    (94, "Contained ECC error", "warning", RESET),
    (95, "Uncontained ECC error", "critical", RESET),
    (109, "Context switch timeout", "warning", APP),
    (119, "GSP RPC timeout", "critical", RESET),
    (120, "GSP error", "critical", RESET),
    (121, "C2C link corrected error", "warning", WATCH),
    (140, "Unrecovered ECC error", "critical", RESET),
    (154, "GPU recovery action changed", "critical", RESET),
]

XID_CATALOG: dict[int, XidInfo] = {code: XidInfo(code, name, sev, act) for code, name, sev, act in _ENTRIES}


def describe(code: int) -> XidInfo:
    """The catalog entry for ``code``; an unknown code is a warning that asks for a look-up.

    >>> describe(79).severity
    'critical'
    >>> describe(9999).severity
    'warning'
    """
    if code in XID_CATALOG:
        return XID_CATALOG[code]
    return XidInfo(
        code, f"Xid {code} (not in the catalog)", "warning", "Look the code up in NVIDIA's Xid catalog."
    )
