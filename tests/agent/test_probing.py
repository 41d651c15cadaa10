"""The agent's probe rounds: off until enrolled, then real sessions with the landmarks in its directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetproof.agent.client import IDENTITY_FILE, KEY_FILE
from fleetproof.agent.config import Settings, load_settings
from fleetproof.agent.probing import make_probe_round
from fleetproof.errors import ConfigError
from fleetproof.probe.keys import generate_key, public_key_b64, save_private_key
from fleetproof.probe.landmark import LandmarkConfig, LandmarkServer
from fleetproof.probe.records import (
    LandmarkEntry,
    MeasurementRecord,
    verify_record,
    write_landmark_directory,
)


def _settings(state_dir: Path, **values: object) -> Settings:
    return load_settings(env={}, overrides={"state_dir": str(state_dir), "listen": "", **values})


def _enroll(state_dir: Path, device_id: str) -> str:
    """What `agent enroll` leaves behind: the device key and the identity the server gave."""
    state_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    save_private_key(key, state_dir / KEY_FILE)
    identity = {"device_id": device_id, "server_url": "http://127.0.0.1:9", "zone": "eu"}
    (state_dir / IDENTITY_FILE).write_text(json.dumps(identity))
    return public_key_b64(key)


def test_probing_is_off_until_enrolled(tmp_path: Path) -> None:
    assert make_probe_round(_settings(tmp_path)) is None


def test_a_landmarks_file_without_enrollment_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not enrolled"):
        make_probe_round(_settings(tmp_path, landmarks_file=str(tmp_path / "DIR.csv")))


def test_probing_off_by_setting(tmp_path: Path) -> None:
    _enroll(tmp_path, "gpu-01")
    assert make_probe_round(_settings(tmp_path, probe_interval_s=0)) is None


@pytest.mark.integration
def test_a_round_measures_every_landmark_and_the_records_check_out(tmp_path: Path) -> None:
    device_key = _enroll(tmp_path / "state", "gpu-01")
    servers, entries = [], []
    try:
        for name, lat, lon in (("fra", 50.1, 8.7), ("lon", 51.5, -0.1)):
            key = generate_key()
            server = LandmarkServer(key, LandmarkConfig(name))
            server.start()
            servers.append(server)
            host, port = server.address
            entries.append(LandmarkEntry(name, lat, lon, f"{host}:{port}", key.public_key()))
        # One landmark nobody answers for: reported, not fatal.
        entries.append(LandmarkEntry("gone", 0.0, 0.0, "127.0.0.1:9", generate_key().public_key()))
        write_landmark_directory(tmp_path / "DIR.csv", entries)
        probe_round = make_probe_round(
            _settings(
                tmp_path / "state",
                landmarks_file=str(tmp_path / "DIR.csv"),
                probe_samples=3,
                probe_timeout_s=0.2,
            )
        )
        assert probe_round is not None
        docs = probe_round()
    finally:
        for server in servers:
            server.stop()
    records = [MeasurementRecord.model_validate(doc) for doc in docs]
    assert sorted(r.landmark_id for r in records) == ["fra", "lon"]
    by_id = {e.id: e for e in entries}
    for record in records:
        assert record.device_id == "gpu-01" and record.device_public_key == device_key
        assert len(record.samples_ms) == 3
        verify_record(record, by_id[record.landmark_id].public_key)


def test_the_agent_keeps_the_name_it_was_enrolled_under(tmp_path: Path) -> None:
    _enroll(tmp_path, "gpu-01")
    record = json.loads((tmp_path / IDENTITY_FILE).read_text())
    (tmp_path / IDENTITY_FILE).write_text(json.dumps({**record, "hostname": "rack7-gpu-01"}))
    assert _settings(tmp_path).resolved_hostname() == "rack7-gpu-01"
    explicit = _settings(tmp_path, hostname="other")
    assert explicit.resolved_hostname() == "other"
