"""Enrollment with attestation evidence: bound to the key and the token, stored, audited, exported."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest
from server_helpers import ADMIN_HEADERS, attestation, ensure_zone, inventory

from fleetproof.probe.attest.base import binding_nonce
from fleetproof.probe.attest.nvidia import NvattestAttestor
from fleetproof.probe.keys import public_key_b64, public_key_bytes
from fleetproof.protocol.curve25519 import Ed25519PrivateKey
from fleetproof.protocol.enroll import enrollment_challenge, hash_token
from fleetproof.server.evidence import export_bundle
from fleetproof.server.store.models import AuditEntry, Device


def _token(client: Any, zone: str = "eu-west") -> str:
    ensure_zone(client, zone)
    r = client.post("/api/v1/enrollment-tokens", json={"zone": zone}, headers=ADMIN_HEADERS)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["token"])


def _enroll(client: Any, token: str, key: Ed25519PrivateKey, att: dict[str, Any] | None) -> Any:
    body: dict[str, Any] = {"public_key": public_key_b64(key), "inventory": inventory("att-host")}
    if att is not None:
        body["attestation"] = att
    return client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"})


def _device(ctx: Any, device_id: str) -> Device:
    with ctx.db.read() as session:
        device = session.get(Device, device_id)
        assert device is not None
        return device


def _enrolled_audit(ctx: Any, device_id: str) -> dict[str, Any]:
    from sqlalchemy import select

    with ctx.db.read() as session:
        details = session.scalars(
            select(AuditEntry.details).where(
                AuditEntry.action == "device.enrolled", AuditEntry.subject == device_id
            )
        ).one()
        return dict(details)


def test_software_attestation_is_stored_with_its_challenge_and_audited(client: Any, ctx: Any) -> None:
    token, key = _token(client), Ed25519PrivateKey.generate()
    r = _enroll(client, token, key, attestation("software", key, token))
    assert r.status_code == 200, r.text
    device_id = r.json()["device_id"]
    stored = _device(ctx, device_id).attestation
    assert stored is not None
    assert stored["attestor"] == "software" and stored["hardware_bound"] is False
    assert stored["challenge_hex"] == hash_token(token) == enrollment_challenge(token).hex()
    assert stored["nonce_hex"] == binding_nonce(public_key_bytes(key), enrollment_challenge(token)).hex()
    audit = _enrolled_audit(ctx, device_id)
    assert audit["attestor"] == "software" and audit["hardware_bound"] is False
    assert "nonce_hex" not in audit and "claims" not in audit and "raw" not in audit


def test_enrollment_without_attestation_still_works(client: Any, ctx: Any) -> None:
    token, key = _token(client), Ed25519PrivateKey.generate()
    r = _enroll(client, token, key, None)
    assert r.status_code == 200, r.text
    device_id = r.json()["device_id"]
    assert _device(ctx, device_id).attestation is None
    assert _enrolled_audit(ctx, device_id)["attestor"] is None


def test_evidence_for_another_key_is_refused_and_the_token_stays_usable(client: Any, ctx: Any) -> None:
    token, key = _token(client), Ed25519PrivateKey.generate()
    other = Ed25519PrivateKey.generate()
    r = _enroll(client, token, key, attestation("software", other, token))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "attestation" in detail and "binding_nonce" in detail and "another key" in detail
    # Refused before the token was spent: the agent can enroll again with good evidence.
    r = _enroll(client, token, key, attestation("software", key, token))
    assert r.status_code == 200, r.text


def test_evidence_for_another_enrollment_is_refused(client: Any) -> None:
    """Evidence made over an earlier token's challenge cannot be replayed with a new token."""
    first, second, key = _token(client), _token(client), Ed25519PrivateKey.generate()
    r = _enroll(client, second, key, attestation("software", key, first))
    assert r.status_code == 422 and "another enrollment" in r.json()["detail"]


def test_software_evidence_that_claims_hardware_is_refused(client: Any) -> None:
    token, key = _token(client), Ed25519PrivateKey.generate()
    att = {**attestation("software", key, token), "hardware_bound": True}
    r = _enroll(client, token, key, att)
    assert r.status_code == 422 and "software never is" in r.json()["detail"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"raw": "x" * (512 * 1024 + 1)}, "raw"),
        ({"claims": {"blob": "y" * (64 * 1024)}}, "claims"),
        ({"nonce_hex": "zz" * 32}, "nonce_hex"),
        ({"attestor": "Not A Name"}, "attestor"),
        ({"extra": 1}, "extra"),
    ],
    ids=["raw too long", "claims too big", "nonce not hex", "bad attestor name", "unknown field"],
)
def test_malformed_attestation_is_refused_by_field(client: Any, change: dict[str, Any], where: str) -> None:
    token, key = _token(client), Ed25519PrivateKey.generate()
    r = _enroll(client, token, key, {**attestation("software", key, token), **change})
    assert r.status_code == 422, r.text
    assert where in json.dumps(r.json()["detail"])


class _FakeNvattest:
    """``nvattest`` at the hardware boundary: answers with a success document over the nonce it is given."""

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        nonce = command[command.index("--nonce") + 1]
        document = {
            "claims": [{"x-nvidia-device-type": "gpu", "measres": "success", "eat_nonce": nonce}],
            "detached_eat": '[["JWT", "eyJ..."], {"GPU-0": "eyJ..."}]',
            "result_code": 0,
            "result_message": "Ok",
        }
        return subprocess.CompletedProcess(list(command), 0, json.dumps(document), "")


def nvidia_attestation(key: Ed25519PrivateKey, token: str) -> dict[str, Any]:
    import dataclasses

    attestor = NvattestAttestor(runner=_FakeNvattest(), which=lambda _: "/usr/bin/nvattest")
    return dataclasses.asdict(attestor.attest(public_key_bytes(key), enrollment_challenge(token)))


def test_nvidia_evidence_is_stored_and_exported_with_its_raw_report(
    client: Any, ctx: Any, clock: Any
) -> None:
    token, key = _token(client), Ed25519PrivateKey.generate()
    r = _enroll(client, token, key, nvidia_attestation(key, token))
    assert r.status_code == 200, r.text
    device_id = r.json()["device_id"]
    assert _enrolled_audit(ctx, device_id)["hardware_bound"] is True
    bundle = export_bundle(ctx.db, device_id, now=clock.now)
    att = bundle["device"]["attestation"]
    assert att["attestor"] == "nvidia" and att["hardware_bound"] is True
    assert att["challenge_hex"] == hash_token(token)
    assert json.loads(att["raw"])["claims"][0]["eat_nonce"] == att["nonce_hex"]
    assert att["claims"]["devices"][0]["measres"] == "success"


def test_nvidia_evidence_whose_claims_differ_from_its_report_is_refused(client: Any) -> None:
    token, key = _token(client), Ed25519PrivateKey.generate()
    att = nvidia_attestation(key, token)
    att["claims"]["devices"][0]["measres"] = "success (edited)"
    r = _enroll(client, token, key, att)
    assert r.status_code == 422 and "differ from those in the carried nvattest report" in r.json()["detail"]


def test_the_exported_bundle_carries_the_software_evidence(client: Any, ctx: Any, clock: Any) -> None:
    token, key = _token(client), Ed25519PrivateKey.generate()
    att = attestation("software", key, token)
    device_id = _enroll(client, token, key, att).json()["device_id"]
    device = export_bundle(ctx.db, device_id, now=clock.now)["device"]
    assert device["public_key"] == public_key_b64(key)
    assert device["attestation"] == {**att, "challenge_hex": hash_token(token)}
    assert token not in json.dumps(device)
