"""The device key's attestation in a bundle: the binding is checked, the hardware claims are named as such."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_tamper import run_verify

from fleetproof.probe.attest.nvidia import NvattestAttestor
from fleetproof.probe.keys import public_key_bytes, public_key_from_b64

Doc = dict[str, Any]


def write(tmp_path: Path, doc: Doc) -> Path:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(doc))
    return path


class FakeNvattest:
    """``nvattest`` at the hardware boundary: a success document over the nonce it is asked for."""

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        nonce = command[command.index("--nonce") + 1]
        document = {
            "claims": [
                {"x-nvidia-device-type": "gpu", "measres": "success", "secboot": True, "eat_nonce": nonce}
            ],
            "detached_eat": '[["JWT", "eyJ..."], {"GPU-0": "eyJ..."}]',
            "result_code": 0,
            "result_message": "Ok",
        }
        return subprocess.CompletedProcess(list(command), 0, json.dumps(document), "")


def with_nvidia_evidence(doc: Doc) -> Doc:
    """The bundle as if the device had enrolled with ``--attestor nvidia`` (same key, same challenge)."""
    doc = copy.deepcopy(doc)
    device = doc["device"]
    challenge = device["attestation"]["challenge_hex"]
    key = public_key_bytes(public_key_from_b64(device["public_key"]))
    attestor = NvattestAttestor(runner=FakeNvattest(), which=lambda _: "/usr/bin/nvattest")
    evidence = attestor.attest(key, bytes.fromhex(challenge))
    device["attestation"] = {**dataclasses.asdict(evidence), "challenge_hex": challenge}
    return doc


def test_the_bundle_carries_the_enrollment_evidence(exported: tuple[Doc, Any]) -> None:
    att = exported[0]["device"]["attestation"]
    assert att["attestor"] == "software" and att["hardware_bound"] is False
    assert len(att["challenge_hex"]) == 64 and len(att["nonce_hex"]) == 64


def test_a_bundle_without_attestation_says_software_key_on_the_operators_word(
    exported: tuple[Doc, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(exported[0])
    doc["device"]["attestation"] = None
    code, out = run_verify(write(tmp_path, doc), capsys)
    assert code == 0, out
    assert "operator's word  device key: enrolled by the operator, no hardware attestation" in out
    assert "device key attestation" not in out


def test_nvidia_evidence_is_bound_and_its_claims_are_the_attestors_word(
    exported: tuple[Doc, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_verify(write(tmp_path, with_nvidia_evidence(exported[0])), capsys)
    assert code == 0, out
    assert "checked          device key attestation: the nvidia evidence is bound to the enrolled key" in out
    assert "attestor's word  device key attestation: hardware_bound and 1 GPU claim(s)" in out
    assert "NOT verified here" in out and "NVIDIA's own attestation verifier" in out
    assert "the GPU does not hold the key" in out
    code, out = run_verify(write(tmp_path, with_nvidia_evidence(exported[0])), capsys, "--json")
    report = json.loads(out)
    assert code == 0 and "attestor" in {p["how"] for p in report["parts"]}


def _edit_raw(doc: Doc, change: Any) -> None:
    att = doc["device"]["attestation"]
    raw = json.loads(att["raw"])
    change(raw)
    att["raw"] = json.dumps(raw)


@pytest.mark.parametrize(
    ("what", "tamper", "named"),
    [
        (
            "a GPU claim",
            lambda d: d["device"]["attestation"]["claims"]["devices"][0].update(secboot=False),
            "differ from those in the carried nvattest report",
        ),
        (
            "the report's nonce",
            lambda d: _edit_raw(d, lambda r: r["claims"][0].update(eat_nonce="00" * 32)),
            "over another nonce",
        ),
        (
            "the report's measurement result",
            lambda d: _edit_raw(d, lambda r: r["claims"][0].update(measres="fail")),
            "not success",
        ),
        (
            "hardware_bound turned off",
            lambda d: d["device"]["attestation"].update(hardware_bound=False),
            "always hardware-bound",
        ),
        ("the raw report dropped", lambda d: d["device"]["attestation"].update(raw=""), "raw is empty"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_changing_nvidia_evidence_fails_and_says_what(
    exported: tuple[Doc, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    tamper: Any,
    named: str,
) -> None:
    doc = with_nvidia_evidence(exported[0])
    tamper(doc)
    code, out = run_verify(write(tmp_path, doc), capsys)
    assert code == 1, f"{what}: verify passed\n{out}"
    assert named in out and "result: FAILED" in out, out


def test_a_malformed_attestation_is_named_by_field(
    exported: tuple[Doc, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(exported[0])
    doc["device"]["attestation"]["challenge_hex"] = "abc"
    code, out = run_verify(write(tmp_path, doc), capsys)
    assert code == 2 and "challenge_hex" in out and "Traceback" not in out
