"""A small real fleet on a SQLite (or PostgreSQL) store, through the server's own API, for bundle tests.

Ten European landmarks register with signed position statements and send a signed mesh
(every ordered pair, RTTs from realistic paths); a device in a Frankfurt data centre,
enrolled with software attestation in a zone allowing Germany and France, sends ``rounds``
rounds of signed records ten minutes apart, and the pipeline judges each.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetproof.protocol.curve25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_helpers import ADMIN_HEADERS, Enrolled, enroll, ensure_zone, signed

from fleetproof.geo import distance_km
from fleetproof.probe.keys import public_key_b64
from fleetproof.probe.records import sign_record
from fleetproof.probe.statement import sign_statement
from fleetproof.server.engine import GeoVerifier, GeoVetter
from fleetproof.server.pipeline import process_queue
from fleetproof.server.vetting import StoreMesh

LANDMARKS = {
    "par": (48.86, 2.35, "FR"),
    "fra": (50.11, 8.68, "DE"),
    "mad": (40.42, -3.70, "ES"),
    "lon": (51.51, -0.13, "GB"),
    "waw": (52.23, 21.01, "PL"),
    "rom": (41.90, 12.50, "IT"),
    "ams": (52.37, 4.90, "NL"),
    "vie": (48.21, 16.37, "AT"),
    "mil": (45.46, 9.19, "IT"),
    "prg": (50.08, 14.44, "CZ"),
}
FRANKFURT_DC = (50.05, 8.57)


def rtt_ms(a: tuple[float, float], b: tuple[float, float]) -> float:
    """A realistic path: fibre at 2/3 c, routes 1.5× the great circle, 0.5 ms at the ends."""
    return round(2 * 1.5 * distance_km(a[0], a[1], b[0], b[1]) / 199.86 + 0.5, 3)


@dataclass
class Fleet:
    keys: dict[str, Ed25519PrivateKey]
    device: Enrolled | None = None
    times: list[float] = field(default_factory=list)


def mesh_records(keys: dict[str, Ed25519PrivateKey], now: float) -> list[dict[str, Any]]:
    """Every landmark probing every other one: records signed by the measured landmark."""
    out = []
    for a, (alat, alon, _) in LANDMARKS.items():
        for b, (blat, blon, _) in LANDMARKS.items():
            if a == b:
                continue
            rtt = rtt_ms((alat, alon), (blat, blon))
            record = sign_record(
                key=keys[b],
                device_id=a,
                device_public_key=public_key_b64(keys[a]),
                landmark_id=b,
                session_id=uuid.uuid4().hex[:16],
                samples_ms=[rtt + 0.3, rtt, rtt + 0.8],
                lost=0,
                time=now,
            )
            out.append(record.model_dump(mode="json"))
    return out


def register_landmarks(client: Any, now: float) -> dict[str, Ed25519PrivateKey]:
    keys = {lm: Ed25519PrivateKey.generate() for lm in LANDMARKS}
    for lm, (lat, lon, cc) in LANDMARKS.items():
        statement = sign_statement(keys[lm], landmark_id=lm, lat=lat, lon=lon, time=now)
        body = {
            "id": lm,
            "lat": lat,
            "lon": lon,
            "address": "127.0.0.1:9000",
            "public_key": public_key_b64(keys[lm]),
            "country": cc,
            "statement": statement.model_dump(mode="json"),
        }
        r = client.post("/api/v1/landmarks", json=body, headers=ADMIN_HEADERS)
        assert r.status_code == 201, r.text
    return keys


def device_round(dev: Enrolled, keys: dict[str, Ed25519PrivateKey], now: float) -> list[dict[str, Any]]:
    items = []
    for lm, (lat, lon, _) in LANDMARKS.items():
        rtt = rtt_ms(FRANKFURT_DC, (lat, lon))
        record = sign_record(
            key=keys[lm],
            device_id=dev.device_id,
            device_public_key=public_key_b64(dev.key),
            landmark_id=lm,
            session_id=uuid.uuid4().hex[:16],
            samples_ms=[rtt + 0.4, rtt, rtt + 1.1],
            lost=0,
            time=now,
        )
        items.append(
            {
                "id": str(uuid.uuid4()),
                "kind": "probe_record",
                "created_at": now,
                "payload": record.model_dump(),
            }
        )
    return items


def build_fleet(client: Any, ctx: Any, clock: Any, rounds: int = 3) -> Fleet:
    ctx.vetter = GeoVetter()
    ctx.verifier = GeoVerifier(mesh=StoreMesh(ctx))
    keys = register_landmarks(client, clock.now)
    r = client.post(
        "/api/v1/landmarks/mesh", json={"records": mesh_records(keys, clock.now)}, headers=ADMIN_HEADERS
    )
    assert r.status_code == 200 and r.json()["quarantined"] == [], r.text
    ensure_zone(client, "de-fr", ("DE", "FR"))
    fleet = Fleet(keys, enroll(client, "de-fr", "fra-host", attestor="software"))
    assert fleet.device is not None
    for _ in range(rounds):
        r = signed(
            client,
            fleet.device,
            "/api/v1/ingest",
            {"items": device_round(fleet.device, keys, clock.now)},
            now=clock.now,
        )
        assert r.status_code == 200 and r.json()["accepted"] == len(LANDMARKS), r.text
        clock.advance(ctx.settings.verdict_debounce_s + 1)
        assert process_queue(ctx, now=clock.now) == 1
        fleet.times.append(clock.now)
        clock.advance(600)
    return fleet
