"""The verdict pipeline end to end: signed records in, engine verdicts, relocation, peers, alerts, audit."""

from __future__ import annotations

import csv
import io

import pytest
from server_helpers import ADMIN_HEADERS, Enrolled, add_landmark, enroll, ensure_zone, record_item, signed
from sqlalchemy import select

from fleetproof.errors import ConfigError
from fleetproof.geo import distance_km
from fleetproof.protocol.curve25519 import Ed25519PrivateKey
from fleetproof.server.config import ServerSettings
from fleetproof.server.engine import GeoVerifier, GeoVetter
from fleetproof.server.pipeline import Outcome, Round, process_queue
from fleetproof.server.store.models import Verdict

LANDMARKS = {
    "par": (48.86, 2.35, "FR"),
    "fra": (50.11, 8.68, "DE"),
    "mad": (40.42, -3.70, "ES"),
    "lon": (51.51, -0.13, "GB"),
    "waw": (52.23, 21.01, "PL"),
    "rom": (41.90, 12.50, "IT"),
}
FRANKFURT_DC = (50.05, 8.57)
LISBON = (38.72, -9.14)


def rtt_ms(a: tuple[float, float], b: tuple[float, float]) -> float:
    """A realistic path: fibre at 2/3 c, routes 1.5× the great circle, 0.5 ms at the ends."""
    return round(2 * 1.5 * distance_km(a[0], a[1], b[0], b[1]) / 199.86 + 0.5, 3)


@pytest.fixture
def fleet(client, ctx):
    ctx.verifier = GeoVerifier()
    ctx.vetter = GeoVetter()
    keys = {lm: Ed25519PrivateKey.generate() for lm in LANDMARKS}
    for lm, (lat, lon, cc) in LANDMARKS.items():
        add_landmark(client, lm, lat, lon, keys[lm], cc)
    return keys


def send_round(client, dev: Enrolled, keys, where: tuple[float, float], now: float) -> None:
    items = [
        record_item(dev, lm, keys[lm], rtt_ms(where, (lat, lon)), now)
        for lm, (lat, lon, _) in LANDMARKS.items()
    ]
    r = signed(client, dev, "/api/v1/ingest", {"items": items}, now=now)
    assert r.status_code == 200 and r.json()["accepted"] == len(items), r.text


def device(client, dev: Enrolled) -> dict:
    return client.get(f"/api/v1/devices/{dev.device_id}", headers=ADMIN_HEADERS).json()


def open_alerts(client) -> list[tuple[str, str]]:
    return sorted(
        (a["kind"], a["subject"])
        for a in client.get("/api/v1/alerts?open_only=true", headers=ADMIN_HEADERS).json()
    )


def test_verdicts_follow_the_zone_policy(client, ctx, clock, fleet) -> None:
    ensure_zone(client, "de-fr", ("DE", "FR"))
    ensure_zone(client, "japan", ("JP",))
    honest = enroll(client, "de-fr", "honest")
    liar = enroll(client, "japan", "liar")
    send_round(client, honest, fleet, FRANKFURT_DC, clock.now)
    send_round(client, liar, fleet, FRANKFURT_DC, clock.now)
    # Debounced: nothing is judged while the round may still be arriving.
    assert process_queue(ctx, now=clock.now) == 0
    clock.advance(ctx.settings.verdict_debounce_s + 1)
    assert process_queue(ctx, now=clock.now) == 2
    h, li = device(client, honest), device(client, liar)
    assert h["verdict"] in ("consistent", "proven") and not h["suspicious"]
    assert h["estimate"]["country"] == "DE"
    assert abs(h["estimate"]["lat"] - FRANKFURT_DC[0]) < 3 and abs(h["estimate"]["lon"] - FRANKFURT_DC[1]) < 4
    assert h["region"]["type"] == "MultiPolygon"
    assert li["verdict"] == "violation"
    assert li["verdicts"][0]["evidence"]["claim"]["countries"] == ["JP"]
    assert ("location_violation", liar.device_id) in open_alerts(client)
    assert all(s != honest.device_id for _, s in open_alerts(client))
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=ADMIN_HEADERS).json()["entries"]]
    assert actions.count("verdict") == 2
    # Queue drained: a second pass does nothing.
    assert process_queue(ctx, now=clock.now) == 0
    # The compliance report says the same, per zone, as CSV and JSON.
    report = client.get("/api/v1/reports/compliance?format=csv", headers=ADMIN_HEADERS)
    rows = {r["device_id"]: r for r in csv.DictReader(io.StringIO(report.text))}
    assert rows[liar.device_id]["compliant"] == "False" and rows[liar.device_id]["allowed_countries"] == "JP"
    assert (
        rows[honest.device_id]["compliant"] == "True" and rows[honest.device_id]["estimated_country"] == "DE"
    )
    japan = client.get("/api/v1/reports/compliance?zone=japan", headers=ADMIN_HEADERS).json()
    assert [r["device_id"] for r in japan] == [liar.device_id]
    inventory = client.get("/api/v1/reports/inventory?zone=de-fr", headers=ADMIN_HEADERS).json()
    assert {r["accelerator_uuid"] for r in inventory} == {"GPU-honest-0", "GPU-honest-1"}


def test_relocation_over_time_and_rebaseline(client, ctx, clock, fleet) -> None:
    ensure_zone(client, "eu", ("DE", "FR", "PT", "ES", "GB", "IT", "PL"))
    dev = enroll(client, "eu", "mover")
    for _ in range(3):
        send_round(client, dev, fleet, FRANKFURT_DC, clock.now)
        clock.advance(600)
        process_queue(ctx, now=clock.now)
    assert not device(client, dev)["relocated"]
    send_round(client, dev, fleet, LISBON, clock.now)
    clock.advance(ctx.settings.verdict_window_s + 1)  # the old round leaves the window
    send_round(client, dev, fleet, LISBON, clock.now)
    clock.advance(10)
    assert process_queue(ctx, now=clock.now) == 1
    d = device(client, dev)
    assert d["relocated"] and d["verdicts"][0]["evidence"]["relocation"]["differs"]
    assert ("relocation", dev.device_id) in open_alerts(client)
    # Still within the allowed countries: no violation, but the move is visible.
    assert d["verdict"] in ("consistent", "proven")
    r = client.post(f"/api/v1/devices/{dev.device_id}/rebaseline", headers=ADMIN_HEADERS)
    assert r.status_code == 200
    assert ("relocation", dev.device_id) not in open_alerts(client)


def test_peer_inconsistency(client, ctx, clock, fleet) -> None:
    ensure_zone(client, "fra-dc", ("DE", "FR", "PT", "ES"))
    peers = [enroll(client, "fra-dc", f"peer{i}") for i in range(4)]
    for p in peers:
        send_round(client, p, fleet, FRANKFURT_DC, clock.now)
    clock.advance(10)
    process_queue(ctx, now=clock.now)
    odd = enroll(client, "fra-dc", "odd")
    send_round(client, odd, fleet, LISBON, clock.now)
    clock.advance(10)
    process_queue(ctx, now=clock.now)
    assert device(client, odd)["peer_inconsistent"]
    assert not device(client, peers[0])["peer_inconsistent"]
    assert ("peer_inconsistency", odd.device_id) in open_alerts(client)


def test_mesh_vetting_quarantines_a_lying_landmark(client, ctx, clock, fleet) -> None:
    # "fake" claims New York but answers from Paris.
    add_landmark(client, "fake", 40.71, -74.0, Ed25519PrivateKey.generate(), "US")
    pos = {k: (v[0], v[1]) for k, v in LANDMARKS.items()}
    mesh = [
        {"source_id": a, "target_id": b, "rtt_ms": rtt_ms(pos[a], pos[b]), "time": clock.now}
        for a in pos
        for b in pos
        if a < b
    ]
    mesh += [
        {
            "source_id": "fake",
            "target_id": b,
            "rtt_ms": rtt_ms(pos["par"], pos[b]) if b != "par" else 0.6,
            "time": clock.now,
        }
        for b in pos
    ]
    r = client.post("/api/v1/landmarks/mesh", json={"measurements": mesh}, headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    assert r.json()["quarantined"] == ["fake"]
    lms = {lm["id"]: lm for lm in client.get("/api/v1/landmarks", headers=ADMIN_HEADERS).json()}
    assert not lms["fake"]["trusted"] and "km" in lms["fake"]["quarantine_reason"]
    assert lms["par"]["trusted"] and lms["par"]["mesh"]["pairs"] >= 6
    assert ("landmark_quarantined", "fake") in open_alerts(client)
    # Unknown landmarks in the mesh are refused.
    bad = {"measurements": [{"source_id": "nope", "target_id": "par", "rtt_ms": 1.0, "time": clock.now}]}
    assert client.post("/api/v1/landmarks/mesh", json=bad, headers=ADMIN_HEADERS).status_code == 400


class ScriptedVerifier:
    """The engine's answers played from a script, so that the pipeline's own history logic is on trial."""

    def __init__(self, script: list[tuple[str, bool]]) -> None:
        self.script = list(script)

    def verify(self, round_: Round) -> Outcome:
        verdict, suspicious = self.script.pop(0)
        return Outcome(
            verdict=verdict,
            suspicious=suspicious,
            estimate=None,
            evidence={"likelihood_ratio": 20.0 if suspicious else 1.0, "suspicious_threshold": 12.0},
        )


def judge_rounds(client, ctx, clock, fleet, dev: Enrolled, script: list[tuple[str, bool]]) -> list[dict]:
    """One probe round per script entry, each judged; the host as the API shows it after each."""
    verifier = ScriptedVerifier(script)
    seen = []
    for _ in range(len(script)):
        send_round(client, dev, fleet, FRANKFURT_DC, clock.now)
        clock.advance(ctx.settings.verdict_debounce_s + 1)
        assert process_queue(ctx, now=clock.now, verifier=verifier) == 1
        seen.append(device(client, dev))
        clock.advance(60)
    return seen


def suspicious_alerts(client, dev: Enrolled) -> list[dict]:
    alerts = client.get("/api/v1/alerts", headers=ADMIN_HEADERS).json()
    return [a for a in alerts if a["kind"] == "suspicious_location" and a["device_id"] == dev.device_id]


def test_suspicious_needs_three_of_five_rounds_and_clears(client, ctx, clock, fleet) -> None:
    assert (ctx.settings.suspicious_min_rounds, ctx.settings.suspicious_window_rounds) == (3, 5)
    dev = enroll(client, "de-fr", "flaky")
    flags = [True, False, True, True, False, False, False, True]
    seen = judge_rounds(client, ctx, clock, fleet, dev, [("consistent", f) for f in flags])
    # Flagged rounds among the last five: 1, 1, 2, 3, 3, 2, 2, 2.
    assert [d["suspicious"] for d in seen] == [False, False, False, True, True, False, False, False]
    # Every round keeps its own flag and statistic in the history (newest first).
    history = seen[-1]["verdicts"]
    assert [v["suspicious"] for v in reversed(history)] == flags
    assert history[0]["evidence"]["likelihood_ratio"] == 20.0
    assert history[0]["evidence"]["suspicious_persistence"] == {
        "round_flagged": True,
        "engine_flagged": True,
        "flagged_rounds": 2,
        "window_rounds": 5,
        "min_rounds": 3,
        "host_flagged": False,
    }
    # One alert: opened in the fourth round, closed in the sixth, not reopened by the eighth.
    (alert,) = suspicious_alerts(client, dev)
    assert alert["opened_at"] == seen[3]["verdict_time"]
    assert alert["closed_at"] == seen[5]["verdict_time"] and not alert["open"]
    assert alert["details"]["suspicious_location"]["flagged_rounds"] == 3
    entries = client.get("/api/v1/audit", headers=ADMIN_HEADERS).json()["entries"]
    verdicts = [e["details"] for e in entries if e["action"] == "verdict"]
    assert [(v["suspicious"], v["suspicious_round"]) for v in verdicts][:4] == [
        (False, True),
        (False, False),
        (False, True),
        (True, True),
    ]


def test_a_zone_sets_its_own_rounds(client, ctx, clock, fleet) -> None:
    body = {
        "id": "strict",
        "allowed_countries": ["DE"],
        "suspicious_min_rounds": 1,
        "suspicious_window_rounds": 1,
    }
    r = client.post("/api/v1/zones", json=body, headers=ADMIN_HEADERS)
    assert r.status_code == 201, r.text
    assert (r.json()["suspicious_min_rounds"], r.json()["suspicious_window_rounds"]) == (1, 1)
    ensure_zone(client, "lenient", ("DE",))
    strict, lenient = enroll(client, "strict", "strict-host"), enroll(client, "lenient", "lenient-host")
    script = [("consistent", True), ("consistent", False)]
    assert [d["suspicious"] for d in judge_rounds(client, ctx, clock, fleet, strict, script)] == [True, False]
    assert [d["suspicious"] for d in judge_rounds(client, ctx, clock, fleet, lenient, script)] == [
        False,
        False,
    ]
    (alert,) = suspicious_alerts(client, strict)
    assert not alert["open"]
    assert suspicious_alerts(client, lenient) == []
    # Back to the server's settings: null for both.
    body.update(suspicious_min_rounds=None, suspicious_window_rounds=None)
    assert client.put("/api/v1/zones/strict", json=body, headers=ADMIN_HEADERS).status_code == 200
    assert [
        d["suspicious"] for d in judge_rounds(client, ctx, clock, fleet, strict, [("consistent", True)])
    ] == [False]


@pytest.mark.parametrize(
    ("k", "n", "message"),
    [
        (4, 3, "the flagged rounds needed must be 1 to the window (3), not 4"),
        (0, 3, "not 0"),
        (1, 101, "the window must be 1 to 100 rounds"),
        (2, None, "both suspicious_min_rounds and suspicious_window_rounds"),
    ],
)
def test_a_zone_with_an_impossible_policy_is_refused(client, k, n, message) -> None:
    body = {
        "id": "bad",
        "allowed_countries": ["DE"],
        "suspicious_min_rounds": k,
        "suspicious_window_rounds": n,
    }
    r = client.post("/api/v1/zones", json=body, headers=ADMIN_HEADERS)
    assert r.status_code == 422 and message in r.text, r.text


def test_server_settings_refuse_an_impossible_policy(monkeypatch) -> None:
    with pytest.raises(ConfigError, match="not 6"):
        ServerSettings(suspicious_min_rounds=6, suspicious_window_rounds=5)
    monkeypatch.setenv("FLEETPROOF_SUSPICIOUS_MIN_ROUNDS", "2")
    monkeypatch.setenv("FLEETPROOF_SUSPICIOUS_WINDOW_ROUNDS", "4")
    settings = ServerSettings.from_env()
    assert (settings.suspicious_min_rounds, settings.suspicious_window_rounds) == (2, 4)


def test_a_proven_host_is_never_suspicious(client, ctx, clock, fleet) -> None:
    dev = enroll(client, "de-fr", "proven-host")
    script = [("proven", True)] * 3 + [("consistent", True)] * 3
    seen = judge_rounds(client, ctx, clock, fleet, dev, script)
    # Proven rounds do not count (the engine's flag is kept as engine_flagged); the rounds after them do.
    assert [d["suspicious"] for d in seen] == [False, False, False, False, False, True]
    history = seen[-1]["verdicts"]
    assert [v["suspicious"] for v in reversed(history)] == [False] * 3 + [True] * 3
    assert history[-1]["evidence"]["suspicious_persistence"]["engine_flagged"] is True
    # The store keeps the engine's own flag of every round (evidence bundles re-judge and compare it).
    with ctx.db.read() as session:
        stored = session.scalars(
            select(Verdict.suspicious).where(Verdict.device_id == dev.device_id).order_by(Verdict.time)
        )
        assert list(stored) == [True] * 6
    # A proven round clears the host's flag at once, whatever the rounds before it were.
    after = judge_rounds(client, ctx, clock, fleet, dev, [("proven", True)])
    assert not after[0]["suspicious"]
    assert not any(a["open"] for a in suspicious_alerts(client, dev))
