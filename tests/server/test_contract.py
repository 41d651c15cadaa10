"""The acceptance contract: anonymous writes are refused, malformed bodies never cause a 5xx."""

from __future__ import annotations

import pytest
from server_helpers import ADMIN_HEADERS, enroll

WRITE_METHODS = {"post", "put", "patch", "delete"}
MALFORMED = [b"", b"{", b"[]", b'{"items": "x"}', b"\xff\xfe", b'{"id": "\\u0000", "lat": 1e999}', b"null"]


def _operations(client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    ops = []
    for path, item in spec["paths"].items():
        for method in item:
            concrete = (
                path.replace("{device_id}", "dev-x").replace("{zone_id}", "z").replace("{alert_id}", "1")
            )
            concrete = concrete.replace("{kind}", "inventory")
            ops.append((method, concrete))
    return ops


def test_every_write_under_api_needs_credentials(client) -> None:
    ops = [(m, p) for m, p in _operations(client) if m in WRITE_METHODS and p.startswith("/api/")]
    assert len(ops) >= 8
    for method, path in ops:
        for body in MALFORMED[:3]:
            r = client.request(
                method.upper(), path, content=body, headers={"content-type": "application/json"}
            )
            assert r.status_code in (401, 403), (method, path, r.status_code)
        # A wrong admin token is no better than none.
        r = client.request(
            method.upper(), path, content=b"{}", headers={"Authorization": "Bearer wrong-token"}
        )
        assert r.status_code in (401, 403), (method, path, r.status_code)


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_bodies_with_credentials_are_4xx(client, clock, body: bytes) -> None:
    from server_helpers import signed

    dev = enroll(client)
    for method, path in _operations(client):
        if method not in WRITE_METHODS:
            continue
        if path in ("/api/v1/ingest", "/api/v1/agent/landmarks"):
            r = signed(client, dev, path, body, now=clock.now, method=method.upper())
        else:
            headers = {**ADMIN_HEADERS, "content-type": "application/json"}
            r = client.request(method.upper(), path, content=body, headers=headers)
        assert r.status_code < 500, (method, path, body, r.status_code, r.text)


def test_oversized_bodies_are_413(client) -> None:
    huge = b"x" * (client.app.state.ctx.settings.max_body_bytes + 1)
    r = client.post("/api/v1/zones", content=huge, headers=ADMIN_HEADERS)
    assert r.status_code == 413


def test_reads_need_the_admin_token_too(client) -> None:
    assert client.get("/api/v1/devices").status_code == 401
    assert client.get("/api/v1/devices", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = client.get("/api/v1/devices", cookies={"fleetproof_admin": "test-admin-token"})
    assert r.status_code == 200


def test_openapi_and_metrics_are_served(client) -> None:
    spec = client.get("/openapi.json").json()
    ingest = spec["paths"]["/api/v1/ingest"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "items" in ingest["properties"]
    assert "IngestItem" in spec["components"]["schemas"]
    text = client.get("/metrics").text
    assert "fleetproof_server_verdict_queue" in text


BAD_REGIONS = [
    {"type": "Polygon", "coordinates": [[[0, 40], [20, 40], [0, 40]]]},  # a ring of 3 positions
    {"type": "Polygon", "coordinates": [[["a", 40], [20, 40], [20, 55], ["a", 40]]]},
    {"type": "Polygon", "coordinates": [[[0, 40], [20, 95], [20, 55], [0, 40]]]},
    {"type": "Polygon", "coordinates": [[[0, 40], [20, 40], [20, 55], [0, 40]], 5]},
    {"type": "MultiPolygon", "coordinates": "x"},
    {"type": "Polygon"},
    {"type": "MultiPolygon", "coordinates": []},  # no area at all: every device a violation
]


@pytest.mark.parametrize("region", BAD_REGIONS)
def test_zone_regions_with_bad_coordinates_are_refused(client, region: dict[str, object]) -> None:
    """A zone region is checked when it comes in, not when a verdict first needs it."""
    r = client.post("/api/v1/zones", json={"id": "z", "allowed_region": region}, headers=ADMIN_HEADERS)
    assert r.status_code == 422, r.text
    assert "allowed_region" in r.text
    assert "z" not in [z["id"] for z in client.get("/api/v1/zones", headers=ADMIN_HEADERS).json()]


def test_zone_region_written_past_the_antimeridian_is_accepted(client) -> None:
    ring = [[177, -19], [181, -19], [181, -16], [177, -16], [177, -19]]
    r = client.post(
        "/api/v1/zones",
        json={"id": "fiji", "allowed_region": {"type": "Polygon", "coordinates": [ring]}},
        headers=ADMIN_HEADERS,
    )
    assert r.status_code == 201, r.text
