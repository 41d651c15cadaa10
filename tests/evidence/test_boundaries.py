"""What checks the server is not the server; and the server judges with the verifier's own functions."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from fleetproof.evidence.judging import round_rtts

EVIDENCE = Path(__file__).resolve().parents[2] / "src" / "fleetproof" / "evidence"
# The names the server and the command line import from this package: changing them breaks them.
PINNED = {
    "fleetproof.evidence.bundle": {
        "BUNDLE_FORMAT",
        "Basis",
        "Bundle",
        "BundleAttestation",
        "BundleCalibration",
        "BundleDevice",
        "BundleLandmark",
        "BundleVerdict",
        "BundleZone",
        "MeshEntry",
        "Position",
        "Window",
        "read_bundle",
    },
    "fleetproof.evidence.judging": {
        "MAX_REFINE_DEPTH",
        "MAX_REGION_CELLS",
        "EngineSettings",
        "Judgement",
        "ZoneLike",
        "build_engine",
        "calibrated_model",
        "countries_sha256",
        "judge",
        "judge_many",
        "round_rtts",
        "zone_claims",
        "zone_json",
    },
    "fleetproof.evidence.verify": {"Part", "Report", "VerdictCheck", "verify_bundle"},
    "fleetproof.evidence.attestation": {"check_device_attestation"},
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted(EVIDENCE.rglob("*.py")), ids=lambda p: p.name)
def test_the_evidence_package_imports_nothing_from_the_server(path: Path) -> None:
    server = [n for n in _imports(path) if n == "fleetproof.server" or n.startswith("fleetproof.server.")]
    assert not server, f"{path.name} imports {server}"


def test_verifying_loads_no_server_module() -> None:
    """Importing and running the verifier's entry point pulls in no server module, even indirectly."""
    code = (
        "import sys, fleetproof.evidence.cli, fleetproof.evidence.verify, fleetproof.evidence.bundle; "
        "bad = sorted(m for m in sys.modules if m.startswith('fleetproof.server')); "
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_server_and_verifier_share_one_path_to_a_verdict() -> None:
    """The pipeline's minimum-RTT step and the engine's judging are the verifier's functions, not copies."""
    import fleetproof.evidence.judging as judging
    import fleetproof.server.engine as engine
    import fleetproof.server.pipeline as pipeline

    assert pipeline.round_rtts is judging.round_rtts
    assert engine.judge is judging.judge
    assert engine.build_engine is judging.build_engine
    assert engine.calibrated_model is judging.calibrated_model


def test_enrollment_and_verifier_check_attestation_alike() -> None:
    """What the server refuses at enrollment is what the verifier fails a bundle on: one function each."""
    import fleetproof.evidence.attestation as attestation
    import fleetproof.server.api_agent as api_agent

    assert api_agent.binding_problem is attestation.binding_problem
    assert api_agent.consistency_problems is attestation.consistency_problems


@pytest.mark.parametrize("module", sorted(PINNED))
def test_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == PINNED[module]
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_round_rtts_takes_the_minimum_per_trusted_landmark() -> None:
    rows = [("a", 9.0), ("b", 4.0), ("a", 7.5), ("q", 0.1), ("b", 4.5), ("a", 8.0)]
    assert round_rtts(rows, {"a", "b"}) == {"a": 7.5, "b": 4.0}
    assert round_rtts(rows, set()) == {}
    assert round_rtts([], {"a"}) == {}
