"""What can be checked about attestation evidence without the hardware and without its vendor.

Two things, and only these: that the evidence is **bound** — its nonce is
``binding_nonce(public_key, challenge)``, recomputed here, so it was produced for this
key and this challenge — and that it is **self-consistent** for the built-in attestors
(a ``software`` attestor never claims hardware; ``nvidia`` evidence carries the tool's
report, which names the same nonce and the same device claims). The server runs this on
enrollment and ``fleetproof evidence verify`` runs it on a bundle, so both refuse the
same things.

What it does not do: check that hardware signed anything. The NVIDIA report's signed
parts (the detached EAT and its certificate chain) are for NVIDIA's own verifier; a
plugin's evidence is for its vendor's. Until then ``hardware_bound`` and the claims are
the attestor's word, and callers must say so.
"""

from __future__ import annotations

from fleetproof.probe.attest.base import AttestationError, Evidence, binding_nonce
from fleetproof.probe.attest.nvidia import check_claims, parse_attest_output

__all__ = ["binding_problem", "consistency_problems"]


def binding_problem(evidence: Evidence, public_key: bytes, challenge: bytes) -> str | None:
    """Why ``evidence`` is not bound to ``public_key`` and ``challenge``, or None when it is."""
    expected = binding_nonce(public_key, challenge).hex()
    if evidence.nonce_hex.lower() != expected:
        return (
            f"its nonce {evidence.nonce_hex[:16]}… is not the binding nonce of this public key and this "
            f"challenge ({expected[:16]}…): the evidence was made for another key or another enrollment"
        )
    return None


def consistency_problems(evidence: Evidence) -> list[str]:
    """What a built-in attestor's evidence says that the attestor never would; [] for unknown attestors."""
    if evidence.attestor == "software":
        if evidence.hardware_bound:
            return ["the software attestor's evidence claims hardware_bound, which software never is"]
        return []
    if evidence.attestor == "nvidia":
        return _nvidia_problems(evidence)
    return []


def _nvidia_problems(evidence: Evidence) -> list[str]:
    if not evidence.hardware_bound:
        return ["nvidia evidence is always hardware-bound, but this says it is not"]
    if not evidence.raw.strip():
        return ["nvidia evidence without the nvattest report it was parsed from (raw is empty)"]
    try:
        document = parse_attest_output(evidence.raw, 0)
        devices = check_claims(document, evidence.nonce_hex.lower())
    except AttestationError as exc:
        return [f"nvidia evidence: the carried nvattest report does not hold: {exc}"]
    if evidence.claims.get("devices") != devices:
        return ["nvidia evidence: its device claims differ from those in the carried nvattest report"]
    return []
