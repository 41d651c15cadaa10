"""The agent's probe rounds: off until enrolled, then real sessions with the landmarks of its directory
or, without one, of the fleet server it is enrolled with."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from fleetproof.agent.client import IDENTITY_FILE, KEY_FILE, enroll
from fleetproof.agent.config import Settings, load_settings
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.probing import make_probe_round
from fleetproof.agent.runner import Agent
from fleetproof.errors import ConfigError
from fleetproof.probe.keys import generate_key, public_key_b64, save_private_key
from fleetproof.probe.landmark import LandmarkConfig, LandmarkServer
from fleetproof.probe.records import (
    LandmarkEntry,
    MeasurementRecord,
    verify_record,
    write_landmark_directory,
)
from fleetproof.protocol.wire_plain import HostInventory, InventoryReport


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


def _enroll_with(server: Any, state_dir: Path) -> str:
    """Enroll for real: zone and one-time token from the admin API, then `agent enroll`'s code path."""
    server.admin("POST", "/api/v1/zones", {"id": "eu", "allowed_countries": ["DE", "FR"]})
    token = server.admin("POST", "/api/v1/enrollment-tokens", {"zone": "eu", "device_id": "gpu-07"})["token"]
    inventory = InventoryReport(time=time.time(), host=HostInventory(hostname="gpu-07"), accelerators=[])
    return enroll(server.url, token, state_dir, inventory).device_id


def _register(server: Any, landmarks: list[LandmarkServer], names: list[str]) -> dict[str, Any]:
    """Start a landmark daemon per name and register it on the server; id -> its public key."""
    keys = {}
    for name in names:
        key = generate_key()
        landmark = LandmarkServer(key, LandmarkConfig(name))
        landmark.start()
        landmarks.append(landmark)
        host, port = landmark.address
        body = {"id": name, "lat": 50.0, "lon": 8.0, "address": f"{host}:{port}"}
        server.admin("POST", "/api/v1/landmarks", {**body, "public_key": public_key_b64(key)})
        keys[name] = key.public_key()
    return keys


@pytest.mark.integration
def test_without_a_landmarks_file_the_agent_probes_the_servers_landmarks(
    tmp_path: Path, fleet_server: Any
) -> None:
    state = tmp_path / "state"
    device_id = _enroll_with(fleet_server, state)
    landmarks: list[LandmarkServer] = []
    try:
        keys = _register(fleet_server, landmarks, ["fra", "par"])
        probe_round = make_probe_round(_settings(state, probe_samples=2, probe_timeout_s=0.5))
        assert probe_round is not None
        first = [MeasurementRecord.model_validate(doc) for doc in probe_round()]
        # The list is asked for at every round: a landmark registered since is probed next time.
        keys |= _register(fleet_server, landmarks, ["ams"])
        second = [MeasurementRecord.model_validate(doc) for doc in probe_round()]
    finally:
        for landmark in landmarks:
            landmark.stop()
    assert [r.landmark_id for r in first] == ["fra", "par"]
    assert [r.landmark_id for r in second] == ["ams", "fra", "par"]
    for record in first + second:
        assert record.device_id == device_id
        verify_record(record, keys[record.landmark_id])


@pytest.mark.integration
def test_a_server_out_of_reach_is_logged_and_retried_sooner_not_fatal(
    tmp_path: Path, fleet_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    _enroll_with(fleet_server, state)
    landmarks: list[LandmarkServer] = []
    now = [1000.0]
    attempts = []
    try:
        _register(fleet_server, landmarks, ["fra"])
        probe_round = make_probe_round(
            _settings(state, probe_samples=2, probe_timeout_s=0.5, probe_interval_s=300)
        )
        assert probe_round is not None

        def counted() -> list[dict[str, Any]]:
            attempts.append(now[0])
            return probe_round()

        box = Outbox(tmp_path / "outbox.sqlite3")
        agent = Agent(
            collectors=[],
            components=[],
            outbox=box,
            hostname="gpu-07",
            probe_round=counted,
            probe_interval_s=300.0,
            probe_retry_s=30.0,
            clock=lambda: now[0],
        )
        fleet_server.stop()
        with caplog.at_level(logging.ERROR, logger="fleetproof.agent"):
            agent.round()  # no exception: the round goes on without probe records
        message = f"probe round skipped: cannot get the landmark list from {fleet_server.url}"
        assert any(message in r.getMessage() for r in caplog.records), caplog.text
        assert "trying again in 30 s" in caplog.text
        assert not any(r.exc_info for r in caplog.records)  # one clear line, no traceback
        for t in (1029.0, 1030.0, 1089.0, 1090.0):  # retries after 30 s, then 60 s
            now[0] = t
            agent.round()
        assert attempts == [1000.0, 1030.0, 1090.0]
        assert [i for i in box.peek(1000) if i.kind == "probe_record"] == []
        fleet_server.start()  # back: the next retry (120 s after the last) probes again
        now[0] = 1209.0
        agent.round()
        now[0] = 1210.0
        agent.round()
        assert attempts == [1000.0, 1030.0, 1090.0, 1210.0]
        records = [i.payload for i in box.peek(1000) if i.kind == "probe_record"]
        assert [r["landmark_id"] for r in records] == ["fra"]
        now[0] = 1210.0 + 299  # success: back to the regular interval
        agent.round()
        assert len(attempts) == 4
    finally:
        for landmark in landmarks:
            landmark.stop()


def test_a_malformed_row_from_the_server_is_left_out_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fleetproof.agent.client import HttpTransport, load_identity
    from fleetproof.agent.probing import _server_landmarks

    _enroll(tmp_path, "gpu-01")
    good = {"id": "fra", "lat": 50.1, "lon": 8.7, "address": "127.0.0.1:9"}
    good["public_key"] = public_key_b64(generate_key())
    rows = [good, {**good, "id": "bad-key", "public_key": "nope"}, {"id": "no-fields"}]
    monkeypatch.setattr(HttpTransport, "get_landmarks", lambda self: rows)
    fetch = _server_landmarks(load_identity(tmp_path), generate_key(), "")
    with caplog.at_level(logging.WARNING, logger="fleetproof.agent.probe"):
        assert [e.id for e in fetch()] == ["fra"]
    assert "'bad-key' left out" in caplog.text and "'no-fields' left out" in caplog.text
    monkeypatch.setattr(HttpTransport, "get_landmarks", lambda self: [])
    with caplog.at_level(logging.WARNING, logger="fleetproof.agent.probe"):
        assert fetch() == []
    assert "lists no trusted landmarks" in caplog.text
