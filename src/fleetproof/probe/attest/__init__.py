"""Binding a device's probe key to hardware evidence.

A software key can be copied to a relay parked next to a landmark; then the
relay answers the nonces and the device looks near. An :class:`Attestor` ties
the device's Ed25519 public key to evidence from hardware the operator trusts:
the evidence is requested over ``binding_nonce(public_key, challenge)`` so it
cannot be replayed for another key or another day.

Extension point: a small Protocol and a registry that rejects duplicates;
built-ins (``software``, ``nvidia``) register exactly as a plugin (a TPM
quote, an AMD SEV-SNP report) would::

    register_attestor("tpm", TpmAttestor)
    get_attestor("tpm")() -> Attestor

What the built-ins prove is stated honestly on each: see
:mod:`.software` and :mod:`.nvidia`.
"""

from __future__ import annotations

from fleetproof.probe.attest.base import (
    AttestationError,
    Attestor,
    Evidence,
    attestor_names,
    binding_nonce,
    get_attestor,
    register_attestor,
)
from fleetproof.probe.attest.nvidia import NvattestAttestor
from fleetproof.probe.attest.software import SoftwareAttestor

__all__ = [
    "AttestationError",
    "Attestor",
    "Evidence",
    "attestor_names",
    "binding_nonce",
    "get_attestor",
    "register_attestor",
]

# The built-ins register exactly as a plugin would.
register_attestor(SoftwareAttestor.name, SoftwareAttestor)
register_attestor(NvattestAttestor.name, NvattestAttestor)
