"""The server's side of evidence bundles: statements on registration, signed mesh records, export, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from evidence_fleet import LANDMARKS, build_fleet, mesh_records
from server_helpers import ADMIN_HEADERS, enroll, signed, telemetry_item

import fleetproof.cli
from fleetproof.evidence.bundle import Bundle
from fleetproof.evidence.verify import verify_bundle
from fleetproof.geodata import load_countries
from fleetproof.probe.keys import public_key_b64
from fleetproof.probe.statement import sign_statement
from fleetproof.protocol.curve25519 import Ed25519PrivateKey


def landmark_body(
    lm_id: str, key: Ed25519PrivateKey, lat: float, lon: float, statement: Any
) -> dict[str, Any]:
    return {
        "id": lm_id,
        "lat": lat,
        "lon": lon,
        "address": "127.0.0.1:9000",
        "public_key": public_key_b64(key),
        "statement": statement,
    }


def check(doc: dict[str, Any]) -> Any:
    return verify_bundle(Bundle.model_validate(doc), load_countries())


def test_a_landmark_registers_with_its_statement_checked(client: Any, clock: Any) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()

    def post(statement: Any) -> Any:
        body = landmark_body("fra", key, 50.11, 8.68, statement)
        return client.post("/api/v1/landmarks", json=body, headers=ADMIN_HEADERS)

    def statement(k: Ed25519PrivateKey = key, lat: float = 50.11, lm: str = "fra") -> dict[str, Any]:
        return sign_statement(k, landmark_id=lm, lat=lat, lon=8.68, time=clock.now).model_dump(mode="json")

    cases = [
        (statement(other), "signed by another key"),
        (statement(lat=51.0), "gives lat 51.0, not 50.11"),
        (statement(lm="par"), "not 'fra'"),
        ({**statement(), "lon": 9.0}, "does not verify"),
        ({"landmark_id": "fra"}, "statement.lat: Field required"),
    ]
    for bad, why in cases:
        r = post(bad)
        assert r.status_code == 400 and why in r.json()["detail"], (why, r.text)
    assert client.get("/api/v1/landmarks", headers=ADMIN_HEADERS).json() == []
    good = statement()
    assert post(good).status_code == 201
    listed = client.get("/api/v1/landmarks", headers=ADMIN_HEADERS).json()
    assert listed[0]["statement"] == good
    # The directory agents fetch carries the statement too, for them to check.
    dev = enroll(client, "eu-west", "agent-host")
    r = signed(client, dev, "/api/v1/agent/landmarks", b"", now=clock.now, method="GET")
    assert r.status_code == 200 and r.json()[0]["statement"] == good


def test_mesh_records_are_checked_and_kept(client: Any, ctx: Any, clock: Any) -> None:
    keys = {lm: Ed25519PrivateKey.generate() for lm in LANDMARKS}
    for lm, (lat, lon, _) in LANDMARKS.items():
        st = sign_statement(keys[lm], landmark_id=lm, lat=lat, lon=lon, time=clock.now).model_dump(
            mode="json"
        )
        assert (
            client.post(
                "/api/v1/landmarks", json=landmark_body(lm, keys[lm], lat, lon, st), headers=ADMIN_HEADERS
            )
        ).status_code == 201
    records = mesh_records(keys, clock.now)
    forged = mesh_records({**keys, "par": Ed25519PrivateKey.generate()}, clock.now)
    bad = next(r for r in forged if r["device_id"] == "par")
    r = client.post("/api/v1/landmarks/mesh", json={"records": [*records[:3], bad]}, headers=ADMIN_HEADERS)
    assert r.status_code == 400 and "mesh record 4: par probed with a key that is not its own" in r.text
    tampered = {**records[0], "rtt_ms": records[0]["rtt_ms"] / 2}
    r = client.post("/api/v1/landmarks/mesh", json={"records": [tampered]}, headers=ADMIN_HEADERS)
    assert r.status_code == 400 and "mesh record 1" in r.text
    r = client.post("/api/v1/landmarks/mesh", json={"records": records}, headers=ADMIN_HEADERS)
    assert r.status_code == 200 and r.json()["pairs"] == len(records)
    from sqlalchemy import func, select

    from fleetproof.server.store.models import MeshMeasurement

    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).where(MeshMeasurement.record.is_not(None))) == len(records)


def test_export_over_the_api_verifies_offline(client: Any, ctx: Any, clock: Any) -> None:
    fleet = build_fleet(client, ctx, clock, rounds=3)
    dev = fleet.device
    assert dev is not None
    r = signed(
        client, dev, "/api/v1/ingest", {"items": [telemetry_item(clock.now, "fra-host")]}, now=clock.now
    )
    assert r.status_code == 200
    path = f"/api/v1/devices/{dev.device_id}/evidence"
    r = client.get(path, headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    assert f'filename="{dev.device_id}.evidence.json"' in r.headers["content-disposition"]
    doc = r.json()
    report = check(doc)
    assert report.ok, (report.failures, [v.problems for v in report.verdicts])
    assert [v["verdict"] for v in doc["verdicts"]] == ["consistent"] * 3
    assert len(doc["records"]) == 3 * len(LANDMARKS) and len(doc["mesh"]) == len(LANDMARKS) * (
        len(LANDMARKS) - 1
    )
    assert all(len(lm["statements"]) == 1 for lm in doc["landmarks"])
    # Nothing beyond what the verdicts rest on: no telemetry, inventory, tokens.
    text = r.text
    assert "temperature_c" not in text and "inventory" not in text and "test-admin-token" not in text
    # A window around the middle verdict only.
    t = fleet.times
    one = client.get(path, params={"since": t[1] - 1, "until": t[1] + 1}, headers=ADMIN_HEADERS).json()
    assert [v["time"] for v in one["verdicts"]] == [t[1]] and len(one["records"]) == 2 * len(LANDMARKS)
    assert check(one).ok
    assert client.get(path, params={"since": t[2], "until": t[0]}, headers=ADMIN_HEADERS).status_code == 400
    assert client.get("/api/v1/devices/nope/evidence", headers=ADMIN_HEADERS).status_code == 404
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_compliance_report_says_how_to_get_each_bundle(client: Any, ctx: Any, clock: Any) -> None:
    fleet = build_fleet(client, ctx, clock, rounds=1)
    assert fleet.device is not None
    dev_id = fleet.device.device_id
    rows = client.get("/api/v1/reports/compliance", headers=ADMIN_HEADERS).json()
    row = next(r for r in rows if r["device_id"] == dev_id)
    assert row["evidence_api_path"] == f"/api/v1/devices/{dev_id}/evidence"
    assert (
        row["evidence_command"]
        == f"fleetproof server evidence export --device {dev_id} --out {dev_id}.evidence.json"
    )
    csv_text = client.get("/api/v1/reports/compliance?format=csv", headers=ADMIN_HEADERS).text
    assert "evidence_command,evidence_api_path" in csv_text.splitlines()[0]


def test_a_revoked_device_is_exported_with_the_key_it_enrolled(client: Any, ctx: Any, clock: Any) -> None:
    fleet = build_fleet(client, ctx, clock, rounds=1)
    dev = fleet.device
    assert dev is not None
    assert client.delete(f"/api/v1/devices/{dev.device_id}", headers=ADMIN_HEADERS).status_code == 200
    doc = client.get(f"/api/v1/devices/{dev.device_id}/evidence", headers=ADMIN_HEADERS).json()
    assert doc["device"]["revoked"] is True and doc["device"]["public_key"] == public_key_b64(dev.key)
    # The enrollment's evidence stays bound to that key, and the verifier recomputes the binding.
    assert doc["device"]["attestation"]["attestor"] == "software"
    assert check(doc).ok


def test_cli_export_then_verify(
    client: Any, ctx: Any, clock: Any, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = build_fleet(client, ctx, clock, rounds=2)
    assert fleet.device is not None
    out = tmp_path / "bundle.json"
    argv = [
        "server",
        "evidence",
        "export",
        "--db",
        db_url,
        "--device",
        fleet.device.device_id,
        "--out",
        str(out),
    ]
    assert fleetproof.cli.main(argv) == 0
    assert "wrote 2 verdicts" in capsys.readouterr().err
    assert fleetproof.cli.main(["evidence", "verify", str(out)]) == 0
    assert "verdicts: 2 of 2 reproduced" in capsys.readouterr().out
    # ISO times work for the window; an unreadable one is a usage error.
    iso = "2027-01-15T08:05:00Z"  # between the two verdicts of the fake clock
    assert fleetproof.cli.main([*argv, "--since", iso]) == 0
    assert len(json.loads(out.read_text())["verdicts"]) == 1
    with pytest.raises(SystemExit) as exc:
        fleetproof.cli.main([*argv, "--since", "yesterday"])
    assert exc.value.code == 2
    assert fleetproof.cli.main([*argv[:6], "nope", "--out", str(tmp_path / "x.json")]) == 2
    assert "no device 'nope'" in capsys.readouterr().err


def test_verdicts_of_old_versions_export_but_do_not_reproduce(client: Any, ctx: Any, clock: Any) -> None:
    """A verdict stored before bases were kept is in the bundle and reported as not reproducible."""
    from sqlalchemy import update

    from fleetproof.server.store.models import Verdict

    fleet = build_fleet(client, ctx, clock, rounds=2)
    assert fleet.device is not None
    with ctx.db.write() as s:
        s.execute(update(Verdict).where(Verdict.time == fleet.times[0]).values(basis=None))
    doc = client.get(f"/api/v1/devices/{fleet.device.device_id}/evidence", headers=ADMIN_HEADERS).json()
    report = check(doc)
    assert [v.reproduced for v in report.verdicts] == [False, True]
    assert "no basis stored" in report.verdicts[0].problems[0]


def test_a_landmark_that_moves_keeps_both_statements_and_both_verdicts_reproduce(
    client: Any, ctx: Any, clock: Any
) -> None:
    from evidence_fleet import device_round

    from fleetproof.server import admin
    from fleetproof.server.pipeline import process_queue

    fleet = build_fleet(client, ctx, clock, rounds=1)
    dev = fleet.device
    assert dev is not None

    def reregister(lm: str, key: Ed25519PrivateKey, lat: float, lon: float) -> None:
        st = sign_statement(key, landmark_id=lm, lat=lat, lon=lon, time=clock.now).model_dump(mode="json")
        body = admin.LandmarkIn(**{**landmark_body(lm, key, lat, lon, st), "country": LANDMARKS[lm][2]})
        admin.add_landmark(ctx.db, body, actor="test", now=clock.now, replace=True)

    def judge_round() -> None:
        r = signed(
            client, dev, "/api/v1/ingest", {"items": device_round(dev, fleet.keys, clock.now)}, now=clock.now
        )
        assert r.status_code == 200
        clock.advance(ctx.settings.verdict_debounce_s + 1)
        assert process_queue(ctx, now=clock.now) == 1

    clock.advance(ctx.settings.verdict_window_s + 1)  # the next verdict rests on new records only
    lat, lon, _ = LANDMARKS["par"]
    reregister("par", fleet.keys["par"], lat + 0.01, lon)
    judge_round()
    path = f"/api/v1/devices/{dev.device_id}/evidence"
    doc = client.get(path, headers=ADMIN_HEADERS).json()
    par = next(lm for lm in doc["landmarks"] if lm["id"] == "par")
    assert [st["lat"] for st in par["statements"]] == [lat, lat + 0.01]
    used = [next(p["lat"] for p in v["basis"]["landmarks"] if p["id"] == "par") for v in doc["verdicts"]]
    assert used == [lat, lat + 0.01]
    report = check(doc)
    assert report.ok, (report.failures, [v.problems for v in report.verdicts])
    # A landmark that changes its key: its statements under the old key are left out, and the
    # records it signed with that key can no longer be checked — the bundle says so.
    reregister("mad", Ed25519PrivateKey.generate(), *LANDMARKS["mad"][:2])
    doc = client.get(path, headers=ADMIN_HEADERS).json()
    report = check(doc)
    assert not report.ok
    assert any("signature does not verify under landmark 'mad'" in f for f in report.failures)
