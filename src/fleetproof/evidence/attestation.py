"""The device key's attestation in a bundle: what is checked offline, and whose word the rest is.

The binding is checked: the evidence's nonce must be ``binding_nonce(device public key,
challenge)``, recomputed here from the bundle's enrolled key and the enrollment challenge,
so evidence made for another key (a swapped device key) or another enrollment fails.
Built-in attestors are also held to what they would ever say (:mod:`fleetproof.probe.attest.check`).

What is *not* checked: that hardware signed anything. ``hardware_bound`` and the claims
are the attestor's word; for ``nvidia`` the raw ``nvattest`` report is carried so that a
person can check its signed token with NVIDIA's own verifier — this module does not
pretend to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fleetproof.evidence.bundle import BundleDevice
from fleetproof.probe.attest.base import Evidence
from fleetproof.probe.attest.check import binding_problem, consistency_problems
from fleetproof.probe.keys import public_key_bytes, public_key_from_b64
from fleetproof.probe.wire import printable

__all__ = ["check_device_attestation"]

#: ``part(how, what)`` and ``fail(message)`` of the verifier's report (the states this module uses).
Part = Callable[[Literal["checked", "operator", "attestor"], str], None]
Fail = Callable[[str], None]


def check_device_attestation(device: BundleDevice, part: Part, fail: Fail) -> None:
    """Report the device key's custody: no attestation, or its binding checked and its claims named."""
    att = device.attestation
    if att is None:
        part(
            "operator",
            "device key: enrolled by the operator, no hardware attestation — a software key; a copy of "
            "it held elsewhere could have answered the landmarks",
        )
        return
    name = printable(att.attestor)
    where = f"device {printable(device.id)}: key attestation ({name})"
    try:
        key = public_key_bytes(public_key_from_b64(device.public_key))
    except ValueError:
        fail(f"{where}: cannot be checked, the enrolled public key is unusable")
        return
    evidence = Evidence(att.attestor, att.hardware_bound, att.nonce_hex, dict(att.claims), att.raw)
    problem = binding_problem(evidence, key, bytes.fromhex(att.challenge_hex))
    if problem is not None:
        fail(f"{where}: not bound to the enrolled key: {problem}")
        return
    part(
        "checked",
        f"device key attestation: the {name} evidence is bound to the enrolled key and this enrollment's "
        "challenge (binding nonce recomputed)",
    )
    inconsistent = consistency_problems(evidence)
    for message in inconsistent:
        fail(f"{where}: {message}")
    if inconsistent:
        return
    if not att.hardware_bound:
        part(
            "operator",
            f"device key: a software key ({name} attestor, not hardware-bound); a copy of it held "
            "elsewhere could have answered the landmarks",
        )
        return
    if att.attestor == "nvidia":
        devices = att.claims.get("devices")
        count = len(devices) if isinstance(devices, list) else 0
        part(
            "attestor",
            f"device key attestation: hardware_bound and {count} GPU claim(s) (measurements a success) are "
            "the nvidia attestor's report, consistent with the raw nvattest output carried in "
            "device.attestation.raw; its signed token is NOT verified here — check it with NVIDIA's own "
            "attestation verifier",
        )
        part(
            "operator",
            "device key: a GPU report was produced for this key, but the GPU does not hold the key; the "
            "binding holds as far as the host software that asked for the report is trusted",
        )
    else:
        part(
            "attestor",
            f"device key attestation: hardware_bound and the claims are the {name} attestor's word; its raw "
            "output (device.attestation.raw) is for that vendor's verifier, not checked here",
        )
