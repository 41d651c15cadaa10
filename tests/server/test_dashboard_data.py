"""The dashboard's data source: aggregates and pages computed in the store."""

from __future__ import annotations

import time
import uuid

from server_helpers import ADMIN_HEADERS, enroll, health_item, signed, telemetry_item
from sqlalchemy import insert

from fleetproof.server.dashboard_data import StoreDashboardSource
from fleetproof.server.store.models import Accelerator, Device


def test_summary_hosts_and_detail(client, ctx, clock) -> None:
    a = enroll(client, hostname="alpha", attestor="software")
    b = enroll(client, "us-east", hostname="bravo")
    signed(
        client,
        a,
        "/api/v1/ingest",
        {
            "items": [
                health_item(clock.now, "unhealthy", "GPU-alpha-0"),
                telemetry_item(clock.now, hostname="alpha", gpus=2),
            ]
        },
        now=clock.now,
    )
    src = StoreDashboardSource(ctx.db)
    s = src.summary()
    assert s["hosts"] == 2 and s["hosts_by_zone"] == {"eu-west": 1, "us-east": 1}
    assert s["hosts_by_health"] == {"unhealthy": 1, "initializing": 1}
    assert s["hosts_by_verdict"] == {"none": 2}
    assert s["accelerators"] == 4 and s["accelerators_by_vendor"] == {"nvidia": 4}
    assert s["accelerators_by_health"]["unhealthy"] == 1 and s["open_alerts"] == 1
    total, items = src.hosts(0, 1, q="brav")
    assert total == 1 and items[0]["id"] == b.device_id and items[0]["hostname"] == "bravo"
    total, items = src.hosts(0, 10, health="unhealthy")
    assert [i["id"] for i in items] == [a.device_id] and "last_seen" in items[0]
    detail = src.host(a.device_id)
    assert detail["zone_detail"]["allowed_countries"] == ["DE", "FR"]
    assert detail["key_attestation"] == {"attestor": "software", "hardware_bound": False}
    assert src.host(b.device_id)["key_attestation"] is None  # enrolled without attestation
    assert detail["accelerators"][0]["metrics"]["temperature_c"] == 0.0
    assert src.host("nope") is None
    series = src.telemetry(a.device_id, "power_w", clock.now - 1)
    assert [(x["uuid"], x["points"]) for x in series] == [
        ("GPU-alpha-0", [[clock.now, 1.0]]),
        ("GPU-alpha-1", [[clock.now, 11.0]]),
    ]
    total, alerts = src.alerts(True, 0, 10)
    assert total == 1 and alerts[0]["kind"] == "accelerator_unhealthy"
    assert src.map_points() == []  # no estimate yet
    assert client.get("/api/v1/devices", headers=ADMIN_HEADERS).status_code == 200


def test_fast_with_ten_thousand_hosts(ctx) -> None:
    now = time.time()
    zones = ["eu-west", "us-east"]
    from fleetproof.server import admin

    for z in zones:
        admin.create_zone(ctx.db, admin.ZoneIn(id=z, allowed_countries=["DE"]), actor="t", now=now)
    hosts, accs = [], []
    for i in range(10_000):
        dev = f"dev-{i:05d}"
        hosts.append(
            {
                "id": dev,
                "zone_id": zones[i % 2],
                "public_key": uuid.uuid4().hex,
                "hostname": f"h{i}",
                "enrolled_at": now,
                "last_seen": now,
                "inventory": {},
                "health": "healthy",
                "verdict": ["consistent", "violation", None][i % 3],
                "suspicious": i % 7 == 0,
                "estimate": {"lat": 50.0, "lon": 8.0, "radius_km": 80.0, "country": "DE", "country_p": 0.9},
                "relocated": False,
                "peer_inconsistent": False,
            }
        )
        accs += [
            {
                "device_id": dev,
                "uuid": f"GPU-{i}-{k}",
                "index": k,
                "vendor": "nvidia",
                "model": "H100",
                "health": "healthy",
                "updated_at": now,
            }
            for k in range(8)
        ]
    with ctx.db.write() as s:
        s.execute(insert(Device), hosts)
        s.execute(insert(Accelerator), accs)
    src = StoreDashboardSource(ctx.db)
    t0 = time.perf_counter()
    summary = src.summary()
    total, page = src.hosts(3_300, 100, verdict="consistent")
    points = src.map_points()
    elapsed = time.perf_counter() - t0
    assert summary["hosts"] == 10_000 and summary["accelerators"] == 80_000
    assert total == 3334 and len(page) == 34
    assert len(points) == 10_000
    assert elapsed < 5.0, f"summary + page + map took {elapsed:.2f} s"
