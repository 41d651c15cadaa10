"""`fleetproof agent enroll --attestor NAME` against a real fleet server on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fleetproof.agent.client import KEY_FILE
from fleetproof.cli import main
from fleetproof.probe.attest import base
from fleetproof.probe.attest.base import binding_nonce
from fleetproof.probe.keys import load_private_key, public_key_bytes
from fleetproof.protocol.enroll import enrollment_challenge


def _token(server: Any) -> str:
    server.admin("POST", "/api/v1/zones", {"id": "eu", "allowed_countries": ["DE", "FR"]})
    return str(server.admin("POST", "/api/v1/enrollment-tokens", {"zone": "eu"})["token"])


def _stored(server: Any) -> dict[str, Any]:
    from fleetproof.server.store.models import Device

    with server.db.read() as session:
        devices = session.query(Device).all()
        assert len(devices) == 1
        return {"id": devices[0].id, "attestation": devices[0].attestation}


def _enroll(server: Any, token: str, state: Path, *extra: str) -> int:
    argv = ["agent", "enroll", "--server", server.url, "--token", token, "--state-dir", str(state)]
    return main([*argv, "--hostname", "gpu-07", *extra])


@pytest.fixture
def agent_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No agent settings from the machine running the tests."""
    for key in [k for k in os.environ if k.startswith("FLEETPROOF_AGENT_")]:
        monkeypatch.delenv(key)
    (tmp_path / "none.toml").write_text("[agent]\n")
    monkeypatch.setenv("FLEETPROOF_AGENT_CONFIG", str(tmp_path / "none.toml"))
    return tmp_path


def test_enroll_sends_software_evidence_by_default(
    fleet_server: Any, agent_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token, state = _token(fleet_server), agent_env / "state"
    assert _enroll(fleet_server, token, state) == 0
    assert "(key attested by software)" in capsys.readouterr().out
    stored = _stored(fleet_server)["attestation"]
    key = load_private_key(state / KEY_FILE)
    challenge = enrollment_challenge(token)
    assert stored["attestor"] == "software" and stored["hardware_bound"] is False
    assert stored["challenge_hex"] == challenge.hex()
    assert stored["nonce_hex"] == binding_nonce(public_key_bytes(key), challenge).hex()


def test_enroll_with_attestor_none_sends_no_evidence(fleet_server: Any, agent_env: Path) -> None:
    assert _enroll(fleet_server, _token(fleet_server), agent_env / "state", "--attestor", "none") == 0
    assert _stored(fleet_server)["attestation"] is None


def test_unknown_attestor_is_a_clear_error_and_spends_no_token(
    fleet_server: Any, agent_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _token(fleet_server)
    assert _enroll(fleet_server, token, agent_env / "state", "--attestor", "tpm-not-yet") == 2
    err = capsys.readouterr().err
    assert "no attestor 'tpm-not-yet'" in err and "software" in err and "none" in err
    assert "Traceback" not in err
    # The token was not sent: the same one still enrolls.
    assert _enroll(fleet_server, token, agent_env / "state") == 0


def test_an_attestor_that_cannot_run_here_says_so(
    fleet_server: Any, agent_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetproof.probe.attest.nvidia import NvattestAttestor

    # A host without nvattest, whatever the machine running the tests has.
    monkeypatch.setitem(base._REGISTRY, "nvidia", lambda: NvattestAttestor(which=lambda _name: None))
    code = _enroll(fleet_server, _token(fleet_server), agent_env / "state", "--attestor", "nvidia")
    err = capsys.readouterr().err
    assert code == 3 and "--attestor nvidia: cannot run on this host" in err and "Traceback" not in err
    assert "enroll with --attestor software or none" in err


def _nvattest(stdout: str, code: int = 0) -> Any:
    import subprocess

    def run(command: Any) -> subprocess.CompletedProcess[str]:
        nonce = command[command.index("--nonce") + 1]
        return subprocess.CompletedProcess(list(command), code, stdout.replace("NONCE", nonce), "")

    return run


def test_enroll_with_nvidia_evidence_stores_the_report(
    fleet_server: Any, agent_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetproof.probe.attest.nvidia import NvattestAttestor

    report = (
        '{"claims": [{"x-nvidia-device-type": "gpu", "measres": "success", "eat_nonce": "NONCE"}], '
        '"detached_eat": "[]", "result_code": 0, "result_message": "Ok"}'
    )
    monkeypatch.setitem(
        base._REGISTRY,
        "nvidia",
        lambda: NvattestAttestor(runner=_nvattest(report), which=lambda _name: "/usr/bin/nvattest"),
    )
    assert _enroll(fleet_server, _token(fleet_server), agent_env / "state", "--attestor", "nvidia") == 0
    stored = _stored(fleet_server)["attestation"]
    assert stored["attestor"] == "nvidia" and stored["hardware_bound"] is True
    assert stored["nonce_hex"] in stored["raw"]


def test_failed_hardware_attestation_is_a_clear_error_and_spends_no_token(
    fleet_server: Any, agent_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetproof.probe.attest.nvidia import NvattestAttestor

    failed = '{"result_code": 2, "result_message": "GPU is not in confidential computing mode"}'
    monkeypatch.setitem(
        base._REGISTRY,
        "nvidia",
        lambda: NvattestAttestor(runner=_nvattest(failed, 1), which=lambda _name: "/usr/bin/nvattest"),
    )
    token = _token(fleet_server)
    assert _enroll(fleet_server, token, agent_env / "state", "--attestor", "nvidia") == 3
    err = capsys.readouterr().err
    assert "attestation failed" in err and "confidential computing mode" in err and "Traceback" not in err
    assert _enroll(fleet_server, token, agent_env / "state", "--attestor", "software") == 0
