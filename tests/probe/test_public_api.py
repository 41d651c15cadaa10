"""The names other parts import (agent, server, demo) are pinned here: changing them is a breaking change."""

from __future__ import annotations

import importlib

import pytest

PINNED = {
    "fleetproof.probe.records": {
        "DIRECTORY_COLUMNS",
        "RECORD_VERSION",
        "LandmarkEntry",
        "MeasurementRecord",
        "RecordError",
        "canonical_bytes",
        "load_landmark_directory",
        "min_rtts",
        "read_records",
        "sign_record",
        "signed_record_json",
        "verify_record",
        "write_landmark_directory",
        "write_records",
    },
    "fleetproof.probe.keys": {
        "generate_key",
        "load_private_key",
        "load_public_key",
        "public_key_b64",
        "public_key_bytes",
        "public_key_from_b64",
        "save_private_key",
        "write_atomic",
    },
    "fleetproof.probe.prober": {
        "FakeClock",
        "InMemoryNetwork",
        "ProbeChannel",
        "ProbeFailed",
        "ProbeResult",
        "ProbeTransport",
        "Prober",
        "UdpTransport",
        "Unreachable",
    },
    "fleetproof.probe.landmark": {"Address", "Counters", "LandmarkConfig", "LandmarkCore", "LandmarkServer"},
    "fleetproof.probe.netem": {"DelayModel", "RelayNetwork", "great_circle_km"},
    "fleetproof.probe.mesh": {"build_mesh", "mesh_rounds", "run_mesh", "write_mesh_csv"},
    "fleetproof.probe.statement": {
        "STATEMENT_VERSION",
        "PositionStatement",
        "StatementError",
        "read_statement",
        "sign_statement",
        "statement_bytes",
        "verify_statement",
        "write_statement",
    },
}


@pytest.mark.parametrize("module", sorted(PINNED))
def test_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == PINNED[module]
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_measurement_record_fields_are_stable() -> None:
    from fleetproof.probe.records import MeasurementRecord

    assert list(MeasurementRecord.model_fields) == [
        "version",
        "device_id",
        "device_public_key",
        "landmark_id",
        "session_id",
        "samples_ms",
        "rtt_ms",
        "lost",
        "time",
        "signature",
    ]


def test_cli_module_is_cheap_to_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, fleetproof.probe.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('cryptography', 'nacl', 'pydantic', 'numpy')))"
    )
    from pathlib import Path

    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
