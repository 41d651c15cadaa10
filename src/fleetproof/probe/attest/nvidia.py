"""NVIDIA GPU attestation through the ``nvattest`` command-line tool.

Runs ``nvattest attest --device gpu --verifier local --nonce HEX`` with the
binding nonce (see :func:`fleetproof.probe.attest.binding_nonce`) and parses the
JSON document the tool prints: ``result_code`` (0 = success), ``result_message``,
``claims`` (a list, one object per device, each with ``x-nvidia-device-type``,
``measres``, ``secboot``, ``dbgstat`` …) and ``detached_eat``. Evidence is
accepted only when the result code is 0 and every device's measurement result
is a success. Field names follow NVIDIA's published documentation of the tool's
JSON output and claims schema.

Honest limits: this adapter has **not been run against real hardware** — its
tests use a fake runner fed with documents written to that published schema.
GPU attestation proves that a genuine, correctly measured GPU in confidential
computing mode produced a report over our nonce at that time; it does not put
the Ed25519 key inside the GPU, so it binds the key to the machine only as far
as the host software that asked for the report is trusted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from fleetproof.probe.attest.base import AttestationError, Evidence, binding_nonce

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=120, check=False)


class NvattestAttestor:
    name = "nvidia"

    def __init__(
        self,
        runner: Runner = _run,
        binary: str = "nvattest",
        verifier: str = "local",
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        if verifier not in ("local", "remote"):
            raise ValueError("verifier must be 'local' or 'remote'")
        self._runner = runner
        self._binary = binary
        self._verifier = verifier
        self._which = which

    def available(self) -> bool:
        return self._which(self._binary) is not None

    def command(self, nonce_hex: str) -> list[str]:
        return [self._binary, "attest", "--device", "gpu", "--verifier", self._verifier, "--nonce", nonce_hex]

    def attest(self, public_key: bytes, challenge: bytes) -> Evidence:
        nonce_hex = binding_nonce(public_key, challenge).hex()
        try:
            done = self._runner(self.command(nonce_hex))
        except FileNotFoundError:
            raise AttestationError(f"{self._binary} is not installed") from None
        except subprocess.TimeoutExpired:
            raise AttestationError(f"{self._binary} did not finish in time") from None
        document = parse_attest_output(done.stdout, done.returncode, done.stderr)
        claims = check_claims(document, nonce_hex)
        return Evidence(
            attestor=self.name,
            hardware_bound=True,
            nonce_hex=nonce_hex,
            claims={"devices": claims, "result_message": document.get("result_message", "")},
            raw=done.stdout,
        )


def parse_attest_output(stdout: str, returncode: int, stderr: str = "") -> dict[str, Any]:
    """The tool's JSON document, or AttestationError saying what went wrong."""
    try:
        document = json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        raise AttestationError(f"nvattest exited {returncode} without a JSON result: {tail[0][:200]}")
    code = document.get("result_code")
    if code != 0 or returncode != 0:
        message = document.get("result_message", "unknown error")
        raise AttestationError(f"nvattest failed (exit {returncode}, result_code {code}): {message}")
    return document


def check_claims(document: dict[str, Any], nonce_hex: str) -> list[dict[str, Any]]:
    """Every device's claims; AttestationError unless each measured as a success over our nonce.

    ``measres`` is ``Success`` in version 1 of the claims schema and ``success``
    in version 2; a device claim that carries ``eat_nonce`` must carry ours.
    """
    claims = document.get("claims")
    if isinstance(claims, dict):
        claims = [claims]
    if not isinstance(claims, list) or not claims:
        raise AttestationError("nvattest result holds no device claims")
    for n, device in enumerate(claims):
        if not isinstance(device, dict):
            raise AttestationError(f"device claim {n} is not an object")
        if "eat_nonce" in device and str(device["eat_nonce"]).lower() != nonce_hex.lower():
            raise AttestationError(f"device claim {n} is over another nonce, not this key's binding nonce")
        result = str(device.get("measres", "")).lower()
        if result != "success":
            kind = device.get("x-nvidia-device-type", "device")
            raise AttestationError(
                f"{kind} {n}: measurement result is {device.get('measres')!r}, not success"
            )
    return claims
