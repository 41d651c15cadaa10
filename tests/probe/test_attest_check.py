"""The offline checks of attestation evidence that the server and the bundle verifier share."""

from __future__ import annotations

import dataclasses
import json

from fleetproof.probe.attest import Evidence, binding_nonce, get_attestor
from fleetproof.probe.attest.check import binding_problem, consistency_problems

KEY, OTHER_KEY = bytes(range(32)), bytes(range(1, 33))
CHALLENGE = bytes(32)


def test_software_evidence_is_bound_to_its_key_and_challenge_only() -> None:
    evidence = get_attestor("software")().attest(KEY, CHALLENGE)
    assert binding_problem(evidence, KEY, CHALLENGE) is None
    assert "another key or another enrollment" in str(binding_problem(evidence, OTHER_KEY, CHALLENGE))
    assert binding_problem(evidence, KEY, b"\x01" * 32) is not None
    assert consistency_problems(evidence) == []


def test_uppercase_nonce_is_the_same_nonce() -> None:
    evidence = get_attestor("software")().attest(KEY, CHALLENGE)
    assert (
        binding_problem(dataclasses.replace(evidence, nonce_hex=evidence.nonce_hex.upper()), KEY, CHALLENGE)
        is None
    )


def test_built_in_attestors_are_held_to_what_they_say() -> None:
    software = get_attestor("software")().attest(KEY, CHALLENGE)
    assert consistency_problems(dataclasses.replace(software, hardware_bound=True))
    nonce = binding_nonce(KEY, CHALLENGE).hex()
    device = {"x-nvidia-device-type": "gpu", "measres": "success", "eat_nonce": nonce}
    raw = json.dumps({"claims": [device], "result_code": 0, "result_message": "Ok"})
    nvidia = Evidence("nvidia", True, nonce, {"devices": [device], "result_message": "Ok"}, raw)
    assert consistency_problems(nvidia) == []
    assert consistency_problems(dataclasses.replace(nvidia, hardware_bound=False))
    assert consistency_problems(dataclasses.replace(nvidia, raw=""))
    failed = raw.replace('"result_code": 0', '"result_code": 1')
    assert "does not hold" in consistency_problems(dataclasses.replace(nvidia, raw=failed))[0]


def test_a_plugins_evidence_is_its_own_word() -> None:
    """Unknown attestors are only checked for the binding: their claims are for their vendor's verifier."""
    plugin = Evidence("tpm", True, binding_nonce(KEY, CHALLENGE).hex(), {"pcr": "…"}, "quote")
    assert consistency_problems(plugin) == []
    assert binding_problem(plugin, KEY, CHALLENGE) is None
