from __future__ import annotations

import subprocess
import sys

import pytest

from fleetproof import __version__
from fleetproof.cli import main
from fleetproof.errors import FleetproofError, InputError


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: fleetproof" in capsys.readouterr().err


def test_input_error_names_file_and_line() -> None:
    err = InputError("rtts.csv", 7, "rtt_ms is not a number: 'abc'")
    assert str(err) == "rtts.csv, line 7: rtt_ms is not a number: 'abc'"
    assert isinstance(err, FleetproofError)
    assert err.exit_code == 2


def test_module_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fleetproof", "--version"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0
    assert out.stdout.strip() == f"fleetproof {__version__}"
