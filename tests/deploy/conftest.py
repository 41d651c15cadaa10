"""Shared helpers of the deployment tests: every artifact under deploy/ is checked with the real tool.

A tool that is not installed skips its tests here, unless ``FLEETPROOF_REQUIRE_DEPLOY_TOOLS=1``
(set by ``.ci/run``, which installs them), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def require_tool(name: str, how: str) -> str:
    """The path of program ``name``; skips (or fails in CI) when it is missing."""
    path = shutil.which(name)
    if path is not None:
        return path
    require(False, f"{name} is missing ({how})")
    raise AssertionError("unreachable")


def require(condition: bool, why: str) -> None:
    """Skip with ``why`` unless ``condition``; a failure instead where CI requires the tools."""
    if condition:
        return
    if os.environ.get("FLEETPROOF_REQUIRE_DEPLOY_TOOLS") == "1":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout built as a wheel (once per test session)."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("wheel")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    built = subprocess.run(
        [*pip_wheel, "-w", str(out), "."], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("fleetproof_gpu-*.whl")
    return found
