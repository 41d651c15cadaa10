from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence

import pytest

from fleetproof.probe.attest import (
    AttestationError,
    attestor_names,
    binding_nonce,
    get_attestor,
    register_attestor,
)
from fleetproof.probe.attest.nvidia import NvattestAttestor
from fleetproof.probe.attest.software import SoftwareAttestor

KEY = bytes(range(32))
CHALLENGE = b"server-challenge"

# Shaped after the JSON that NVIDIA documents for `nvattest attest` and its claims schema
# (not captured from hardware: no confidential-computing GPU was available).
SUCCESS = {
    "claims": [
        {
            "x-nvidia-device-type": "gpu",
            "measres": "success",
            "secboot": True,
            "dbgstat": "disabled",
            "hwmodel": "GH100 A01 GSP BROM",
            "x-nvidia-gpu-driver-version": "575.57.08",
            "x-nvidia-gpu-vbios-version": "96.00.CF.00.02",
        }
    ],
    "detached_eat": '[["JWT", "eyJ..."], {"GPU-0": "eyJ..."}]',
    "result_code": 0,
    "result_message": "Ok",
}


class FakeRunner:
    def __init__(self, stdout: str, returncode: int = 0, stderr: str = "") -> None:
        self.result = (stdout, returncode, stderr)
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(command))
        stdout, code, stderr = self.result
        return subprocess.CompletedProcess(list(command), code, stdout, stderr)


def test_registry_has_builtins_and_rejects_duplicates() -> None:
    assert {"software", "nvidia"} <= set(attestor_names())
    with pytest.raises(ValueError, match="already registered"):
        register_attestor("software", SoftwareAttestor)
    with pytest.raises(KeyError, match="known"):
        get_attestor("sev-snp-not-yet")


def test_software_evidence_is_not_hardware_bound() -> None:
    evidence = get_attestor("software")().attest(KEY, CHALLENGE)
    assert evidence.hardware_bound is False
    assert evidence.nonce_hex == binding_nonce(KEY, CHALLENGE).hex()


def test_binding_nonce_depends_on_key_and_challenge() -> None:
    assert binding_nonce(KEY, CHALLENGE) != binding_nonce(bytes(32), CHALLENGE)
    assert binding_nonce(KEY, CHALLENGE) != binding_nonce(KEY, b"other")
    assert len(binding_nonce(KEY, CHALLENGE)) == 32


def test_nvattest_success_builds_command_with_binding_nonce() -> None:
    nonce_hex = binding_nonce(KEY, CHALLENGE).hex()
    runner = FakeRunner(
        json.dumps({**SUCCESS, "claims": [{**SUCCESS["claims"][0], "eat_nonce": nonce_hex.upper()}]})
    )
    evidence = NvattestAttestor(runner=runner).attest(KEY, CHALLENGE)
    nonce = binding_nonce(KEY, CHALLENGE).hex()
    assert runner.commands == [
        ["nvattest", "attest", "--device", "gpu", "--verifier", "local", "--nonce", nonce]
    ]
    assert evidence.hardware_bound and evidence.nonce_hex == nonce
    assert evidence.claims["devices"][0]["hwmodel"].startswith("GH100")


@pytest.mark.parametrize(
    ("stdout", "code", "stderr", "message"),
    [
        (
            "",
            1,
            "error while loading shared libraries: libnvat.so",
            "without a JSON result: error while loading",
        ),
        ("not json", 0, "", "without a JSON result"),
        (json.dumps({"result_code": 19, "result_message": "NVML init failed"}), 1, "", "NVML init failed"),
        (json.dumps({**SUCCESS, "claims": []}), 0, "", "no device claims"),
        (
            json.dumps({**SUCCESS, "claims": [{**SUCCESS["claims"][0], "measres": "fail"}]}),
            0,
            "",
            "not success",
        ),
    ],
)
def test_nvattest_failures(stdout: str, code: int, stderr: str, message: str) -> None:
    with pytest.raises(AttestationError, match=message):
        NvattestAttestor(runner=FakeRunner(stdout, code, stderr)).attest(KEY, CHALLENGE)


def test_nvattest_missing_binary() -> None:
    def missing(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(command[0])

    attestor = NvattestAttestor(runner=missing, which=lambda name: None)
    assert attestor.available() is False
    with pytest.raises(AttestationError, match="not installed"):
        attestor.attest(KEY, CHALLENGE)
