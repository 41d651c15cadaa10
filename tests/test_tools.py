"""tools/hardware_run.py keeps working where there is no GPU: its agent sections on the simulated backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_hardware_run_dry_run_on_the_simulated_backend(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "hardware_run.py"),
            "--backend",
            "simulated",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "host " in out.stdout and "exit status 0" in out.stdout
    assert (tmp_path / "scan.json").stat().st_size > 0
    metrics = (tmp_path / "metrics.txt").read_text()
    assert "fleetproof_accelerator_up{" in metrics and "fleetproof_agent_rounds_total" in metrics
