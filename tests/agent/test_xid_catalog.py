"""The Xid catalog carries NVIDIA's published catalog over as facts: every code, NVIDIA's buckets."""

from __future__ import annotations

import pytest

from fleetproof.agent.checks.base import CheckContext
from fleetproof.agent.checks.xid import XidErrors
from fleetproof.agent.checks.xid_catalog import SEVERITY_OF_REPAIR, XID_CATALOG, Repair, describe
from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, Snapshot, XidEvent


def test_every_published_code_is_there() -> None:
    assert sorted(XID_CATALOG) == list(range(1, 173))
    for code in (46, 110, 136, *range(143, 151), 155, 156, 157, 158):
        assert XID_CATALOG[code].immediate, code


@pytest.mark.parametrize(
    ("code", "immediate", "severity", "repair"),
    [
        # Rated by NVIDIA's immediate bucket, not by hand.
        (38, "IGNORE", "info", Repair.NONE),
        (63, "IGNORE", "info", Repair.NONE),
        (94, "RESTART_APP", "info", Repair.RESTART_APP),
        (154, "XID_154", "info", Repair.NONE),
        (13, "RESTART_APP", "info", Repair.RESTART_APP),
        (46, "RESET_GPU", "critical", Repair.RESET_GPU),
        (48, "WORKFLOW_XID_48", "critical", Repair.RESET_GPU),
        (54, "CHECK_MECHANICALS", "critical", Repair.CHECK_HARDWARE),
        (74, "WORKFLOW_NVLINK_ERR", "critical", Repair.RESET_GPU),
        (79, "RESTART_BM", "critical", Repair.REBOOT),
        (95, "RESET_GPU", "critical", Repair.RESET_GPU),
        (110, "RESET_GPU", "critical", Repair.RESET_GPU),
        (145, "WORKFLOW_NVLINK5_ERR", "warning", Repair.DECODE),
        (151, "RESTART_VM", "warning", Repair.RESTART_VM),
        (157, "IGNORE", "info", Repair.NONE),
        (158, "RESET_GPU", "critical", Repair.RESET_GPU),
        # Codes the catalog lists as unused on current GPUs: seeing one is worth a support case.
        (56, "CONTACT_SUPPORT", "warning", Repair.CONTACT_SUPPORT),
        (57, "CONTACT_SUPPORT", "warning", Repair.CONTACT_SUPPORT),
        (61, "CONTACT_SUPPORT", "warning", Repair.CONTACT_SUPPORT),
    ],
)
def test_severity_follows_nvidias_immediate_action(
    code: int, immediate: str, severity: str, repair: Repair
) -> None:
    info = describe(code)
    assert (info.immediate, info.severity, info.repair) == (immediate, severity, repair)
    assert info.action and info.mnemonic


def test_severity_is_one_table_of_the_repair() -> None:
    for info in XID_CATALOG.values():
        if info.code != 162:
            assert info.severity == SEVERITY_OF_REPAIR[info.repair], info


@pytest.mark.parametrize(
    ("message", "severity", "repair"),
    [
        (
            "GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)",
            "critical",
            Repair.REBOOT,
        ),
        (
            "GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)",
            "critical",
            Repair.RESET_GPU,
        ),
        ("GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)", "info", Repair.NONE),
        ("something else", "info", Repair.NONE),
    ],
)
def test_xid_154_takes_the_action_its_message_names(message: str, severity: str, repair: Repair) -> None:
    info = describe(154, message)
    assert (info.severity, info.repair) == (severity, repair)


def test_xid_154_with_a_reboot_makes_the_device_unhealthy() -> None:
    dev = DeviceReading(
        info=DeviceInfo(index=0, vendor="nvidia", model="H100", uuid="GPU-1"),
        xid_events=[
            XidEvent(154, 1000.0, "GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)")
        ],
    )
    (r,) = XidErrors().check(CheckContext(1000.0, [Snapshot("nvidia", 1000.0, [dev])]))
    assert r.state == "unhealthy" and "reboot" in r.suggested_action.lower()
