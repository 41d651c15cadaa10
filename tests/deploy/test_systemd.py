"""The systemd units, installed by deploy/systemd/install.sh into a staging root and checked by
``systemd-analyze verify`` there (which also checks that each ExecStart program exists)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.deploy.conftest import DEPLOY, ROOT, require, require_tool

UNITS = ("fleetproof-agent.service", "fleetproof-server.service", "fleetproof-landmark.service")


def _unit_lib() -> Path | None:
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "sysinit.target").exists():
            return candidate
    return None


def test_packaged_agent_unit_is_the_deployed_one() -> None:
    packaged = ROOT / "src" / "fleetproof" / "agent" / "fleetproof-agent.service"
    assert packaged.read_text() == (DEPLOY / "systemd" / "fleetproof-agent.service").read_text()


def test_units_are_hardened() -> None:
    for unit in UNITS:
        text = (DEPLOY / "systemd" / unit).read_text()
        for line in (
            "ExecStart=/opt/fleetproof/bin/fleetproof ",
            "DynamicUser=yes",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "RestrictSUIDSGID=yes",
            "SystemCallArchitectures=native",
        ):
            assert line in text, (unit, line)
    agent = (DEPLOY / "systemd" / "fleetproof-agent.service").read_text()
    assert "CapabilityBoundingSet=CAP_SYSLOG\n" in agent  # kernel log only; nothing that changes state


@pytest.mark.slow
def test_install_then_systemd_analyze_verify(tmp_path: Path, wheel: Path) -> None:
    analyze = require_tool("systemd-analyze", "apt-get install systemd")
    lib = _unit_lib()
    require(lib is not None, "no systemd unit directory with sysinit.target on this host")
    assert lib is not None
    root = tmp_path / "root"
    shutil.copytree(lib, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    env = dict(
        os.environ,
        DESTDIR=str(root),
        FLEETPROOF_PACKAGE=str(wheel),
        FLEETPROOF_PIP_OPTIONS="--no-deps --no-index",
    )
    res = subprocess.run(
        ["sh", str(DEPLOY / "systemd" / "install.sh"), "--agent", "--server", "--landmark"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    exe = root / "opt" / "fleetproof" / "bin" / "fleetproof"
    assert os.access(exe, os.X_OK)
    for unit in UNITS:
        assert (root / "etc" / "systemd" / "system" / unit).is_file()
    verify = subprocess.run(
        [analyze, "verify", f"--root={root}", *(f"/etc/systemd/system/{u}" for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    complaints = [line for line in (verify.stdout + verify.stderr).splitlines() if line.strip()]
    assert verify.returncode == 0 and not complaints, "\n".join(complaints)


def test_verify_catches_a_missing_program(tmp_path: Path) -> None:
    """The check above can fail: a unit whose ExecStart program is absent is refused."""
    analyze = require_tool("systemd-analyze", "apt-get install systemd")
    lib = _unit_lib()
    require(lib is not None, "no systemd unit directory with sysinit.target on this host")
    assert lib is not None
    root = tmp_path / "root"
    shutil.copytree(lib, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    shutil.copy(DEPLOY / "systemd" / UNITS[0], root / "etc" / "systemd" / "system")
    verify = subprocess.run(
        [analyze, "verify", f"--root={root}", f"/etc/systemd/system/{UNITS[0]}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode != 0 and "/opt/fleetproof/bin/fleetproof" in verify.stderr
