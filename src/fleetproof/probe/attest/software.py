"""The software "attestor": no hardware, says so.

It exists so that every device goes through the same path; its evidence has
``hardware_bound=False``, which the server shows and the threat model explains:
a software key proves only that whoever answered held a copy of the key.
"""

from __future__ import annotations

from fleetproof.probe.attest.base import Evidence, binding_nonce


class SoftwareAttestor:
    name = "software"

    def available(self) -> bool:
        return True

    def attest(self, public_key: bytes, challenge: bytes) -> Evidence:
        return Evidence(
            attestor=self.name,
            hardware_bound=False,
            nonce_hex=binding_nonce(public_key, challenge).hex(),
            claims={"key_storage": "software"},
        )
