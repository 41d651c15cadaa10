"""Adversarial checks of the server's trust boundaries: what a device, a token holder or a
crafted value can do to stored data, exports and the audit log."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from server_helpers import (
    ADMIN_HEADERS,
    enroll,
    ensure_zone,
    health_item,
    inventory,
    signed,
    telemetry_item,
)

from fleetproof.probe.keys import public_key_b64
from fleetproof.protocol.curve25519 import Ed25519PrivateKey

INGEST = "/api/v1/ingest"


def _csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_inventory_csv_neutralises_formulas_from_agents(client, clock, lead: str) -> None:
    dev = enroll(client)
    inv = inventory("gpu-host-1", gpus=1, time_s=clock.now)
    inv["host"]["hostname"] = f'{lead}HYPERLINK("http://x","y")'
    inv["host"]["os"] = f"{lead}1+1"
    inv["accelerators"][0]["serial"] = f"{lead}cmd|' /C calc'!A0"
    item = {"id": str(uuid.uuid4()), "kind": "inventory", "created_at": clock.now, "payload": inv}
    r = signed(client, dev, INGEST, {"items": [item]}, now=clock.now)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    for kind in ("inventory", "compliance"):
        r = client.get(f"/api/v1/reports/{kind}?format=csv", headers=ADMIN_HEADERS)
        assert r.status_code == 200
        cells = _csv_cells(r.text)
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
        # The value is still there, only defused.
        assert any(c.endswith('HYPERLINK("http://x","y")') for c in cells)
    # JSON keeps the value as sent.
    rows = client.get("/api/v1/reports/inventory", headers=ADMIN_HEADERS).json()
    assert rows[0]["hostname"] == inv["host"]["hostname"]


def test_csv_keeps_negative_numbers(client) -> None:
    from fleetproof.server.reports import to_csv

    text = to_csv([{"zone": "z", "device_id": "d", "estimate_lon": -3.5, "estimate_lat": 1.0}], "compliance")
    assert "-3.5" in _csv_cells(text)


def _latest(client, device_id: str) -> dict:
    return client.get(f"/api/v1/devices/{device_id}", headers=ADMIN_HEADERS).json()


def test_a_future_dated_item_cannot_pin_current_state(client, clock) -> None:
    dev = enroll(client)
    future = clock.now + 10 * 365 * 86400
    tel = telemetry_item(future, gpus=1, metrics=5)
    hl = health_item(future, "unhealthy", "GPU-gpu-host-1-0")
    r = signed(client, dev, INGEST, {"items": [tel, hl]}, now=clock.now)
    assert r.status_code == 200, r.text
    assert {x["id"] for x in r.json()["rejected"]} == {tel["id"], hl["id"]}, r.text
    ok = health_item(clock.now, "healthy", "GPU-gpu-host-1-0")
    r = signed(client, dev, INGEST, {"items": [ok]}, now=clock.now)
    assert r.json()["accepted"] == 1
    assert _latest(client, dev.device_id)["health"] != "unhealthy"


def test_a_future_dated_probe_record_is_rejected(client, clock) -> None:
    from server_helpers import add_landmark, record_item

    dev = enroll(client)
    lm_key = Ed25519PrivateKey.generate()
    add_landmark(client, "lm-1", 50.1, 8.7, lm_key)
    ahead = record_item(dev, "lm-1", lm_key, 5.0, clock.now + 86400)
    now_ = record_item(dev, "lm-1", lm_key, 5.0, clock.now)
    r = signed(client, dev, INGEST, {"items": [ahead, now_]}, now=clock.now)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1 and [x["id"] for x in r.json()["rejected"]] == [ahead["id"]]


def test_a_slightly_early_item_within_the_clock_window_is_kept(client, clock) -> None:
    dev = enroll(client)
    tel = telemetry_item(clock.now + 60, gpus=1, metrics=5)
    r = signed(client, dev, INGEST, {"items": [tel]}, now=clock.now)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [100, 300, 900, 980, 3000, 100_000])
def test_deeply_nested_payloads_are_4xx(client, clock, depth: int) -> None:
    dev = enroll(client)
    deep = _nested(depth)
    for kind in ("probe_record", "telemetry", "health", "inventory"):
        body = f'{{"items": [{{"id": "a", "kind": "{kind}", "created_at": 1, "payload": {{"x": {deep}}}}}]}}'
        r = signed(client, dev, INGEST, body.encode(), now=clock.now)
        assert r.status_code < 500, r.text
    token = client.post("/api/v1/enrollment-tokens", json={"zone": "eu-west"}, headers=ADMIN_HEADERS).json()
    key = public_key_b64(Ed25519PrivateKey.generate())
    body = f'{{"public_key": "{key}", "inventory": {deep}}}'
    r = client.post("/api/v1/enroll", content=body, headers={"Authorization": f"Bearer {token['token']}"})
    assert r.status_code < 500, r.text
    region = f'{{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]], "x": {deep}}}'
    body = f'{{"id": "deep", "allowed_region": {region}}}'
    r = client.post(
        "/api/v1/zones", content=body, headers={**ADMIN_HEADERS, "content-type": "application/json"}
    )
    assert r.status_code < 500, r.text


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_anywhere_are_4xx_and_store_nothing(client, clock, number: str) -> None:
    dev = enroll(client)
    good = telemetry_item(clock.now, gpus=1, metrics=5)
    raw = json.dumps({"items": [good]})
    for field in ('"load_1m": 1.5', '"created_at": ' + repr(clock.now), '"power_w": 1.0'):
        body = raw.replace(field, field.split(":")[0] + ": " + number, 1).encode()
        assert body != raw.encode(), field
        r = signed(client, dev, INGEST, body, now=clock.now)
        assert 400 <= r.status_code < 500 or (r.status_code == 200 and r.json()["accepted"] == 0), (
            field,
            r.status_code,
            r.text,
        )
    r = signed(client, dev, INGEST, {"items": [good]}, now=clock.now)
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_duplicate_ids_in_one_batch_are_counted_once(client, clock) -> None:
    dev = enroll(client)
    a = telemetry_item(clock.now, gpus=1, metrics=5, item_id="same")
    b = telemetry_item(clock.now + 1, gpus=1, metrics=5, item_id="same")
    h = health_item(clock.now, "healthy", None)
    h["id"] = "same"
    r = signed(client, dev, INGEST, {"items": [a, b, h]}, now=clock.now)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2 and r.json()["duplicates"] == 1


def test_unknown_item_kind_is_422(client, clock) -> None:
    dev = enroll(client)
    item = {"id": "x", "kind": "shell", "created_at": clock.now, "payload": {}}
    r = signed(client, dev, INGEST, {"items": [item]}, now=clock.now)
    assert r.status_code == 422, r.text


def test_a_device_cannot_sign_as_another(client, clock) -> None:
    a = enroll(client, hostname="host-a")
    b = enroll(client, hostname="host-b")
    tel = telemetry_item(clock.now, hostname="host-b", gpus=1, metrics=5)
    # a's key, b's id in the header: the signature does not verify against b's key.
    r = signed(client, a, INGEST, {"items": [tel]}, now=clock.now, device_id=b.device_id)
    assert r.status_code == 401
    # b's accelerators named in a's payloads stay a's own rows.
    inv = inventory("host-a", gpus=1, time_s=clock.now + 1)
    inv["accelerators"][0]["uuid"] = "GPU-host-b-0"
    item = {"id": str(uuid.uuid4()), "kind": "inventory", "created_at": clock.now, "payload": inv}
    hl = health_item(clock.now + 1, "unhealthy", "GPU-host-b-0")
    r = signed(client, a, INGEST, {"items": [item, hl]}, now=clock.now)
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    detail_b = _latest(client, b.device_id)
    assert detail_b["health"] != "unhealthy"
    alerts = client.get("/api/v1/alerts", headers=ADMIN_HEADERS).json()
    assert all(x["device_id"] == a.device_id for x in alerts)


def test_replay_and_skew(client, clock) -> None:
    dev = enroll(client)
    body = json.dumps({"items": []}).encode()
    from fleetproof.protocol.reqsign import sign_request

    headers = sign_request(dev.key, dev.device_id, "POST", INGEST, body, now=clock.now - 299)
    assert client.post(INGEST, content=body, headers=headers).status_code == 200
    assert client.post(INGEST, content=body, headers=headers).status_code == 401
    # The same signature on another path is refused.
    assert client.get("/api/v1/agent/landmarks", headers=headers).status_code == 401
    for skew in (301, -301):
        h = sign_request(dev.key, dev.device_id, "POST", INGEST, body, now=clock.now + skew)
        assert client.post(INGEST, content=body, headers=h).status_code == 401
    for ts in ("nan", "inf", "-inf", "1e400", "0x10"):
        h = dict(headers, **{"X-Fleetproof-Time": ts})
        assert client.post(INGEST, content=body, headers=h).status_code == 401


def test_enrollment_tokens_one_time_expiry_zone(client, clock) -> None:
    ensure_zone(client, "zone-a")
    tok = client.post(
        "/api/v1/enrollment-tokens", json={"zone": "zone-a", "ttl_s": 60}, headers=ADMIN_HEADERS
    ).json()["token"]

    def go(token: str) -> object:
        body = {"public_key": public_key_b64(Ed25519PrivateKey.generate()), "inventory": inventory()}
        return client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"})

    r = go(tok)
    assert r.status_code == 200 and r.json()["zone"] == "zone-a"
    assert go(tok).status_code == 403
    tok2 = client.post(
        "/api/v1/enrollment-tokens", json={"zone": "zone-a", "ttl_s": 60}, headers=ADMIN_HEADERS
    ).json()["token"]
    clock.advance(61)
    assert go(tok2).status_code == 403


def test_a_refused_enrollment_leaves_the_token_usable(client, clock) -> None:
    dev = enroll(client)
    tok = client.post("/api/v1/enrollment-tokens", json={"zone": "eu-west"}, headers=ADMIN_HEADERS).json()[
        "token"
    ]
    body = {"public_key": public_key_b64(dev.key), "inventory": inventory()}
    r = client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 409
    body = {"public_key": public_key_b64(Ed25519PrivateKey.generate()), "inventory": inventory()}
    r = client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text


def test_no_api_path_breaks_the_audit_chain(client, clock) -> None:
    dev = enroll(client)
    client.put(
        "/api/v1/zones/eu-west",
        json={"id": "eu-west", "description": "=cmd", "site_lat": 1e-7, "site_lon": -0.0},
        headers=ADMIN_HEADERS,
    )
    client.delete(f"/api/v1/devices/{dev.device_id}", headers=ADMIN_HEADERS)
    r = client.get("/api/v1/audit/verify", headers=ADMIN_HEADERS).json()
    assert r["ok"], r


def test_the_dashboard_cookie_cannot_change_anything(client, clock) -> None:
    """The cookie rides along on cross-site form posts; only the bearer header may write."""
    dev = enroll(client)
    cookies = {"fleetproof_admin": "test-admin-token"}
    client.cookies.update(cookies)
    try:
        assert client.get("/api/v1/devices").status_code == 200
        form = {"content-type": "application/x-www-form-urlencoded"}
        for path in (f"/api/v1/devices/{dev.device_id}/rebaseline", "/api/v1/alerts/1/resolve"):
            r = client.post(path, headers=form)
            assert r.status_code == 401, (path, r.status_code, r.text)
        r = client.post(
            "/api/v1/enrollment-tokens",
            content=b'{"zone": "eu-west"}',
            headers={"content-type": "text/plain"},
        )
        assert r.status_code == 401, r.text
        assert client.delete(f"/api/v1/devices/{dev.device_id}").status_code == 401
    finally:
        client.cookies.clear()
    r = client.post(f"/api/v1/devices/{dev.device_id}/rebaseline", headers=ADMIN_HEADERS)
    assert r.status_code in (200, 400, 404, 409), r.text


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
def test_non_finite_numbers_in_admin_documents_are_4xx(client, number: str) -> None:
    ring = "[[0, 0], [1, 0], [1, 1], [0, 0]]"
    headers = {**ADMIN_HEADERS, "content-type": "application/json"}
    for region in (
        f'{{"type": "Polygon", "coordinates": [{ring}], "note": {number}}}',
        f'{{"type": "Polygon", "coordinates": [[[0, {number}], [1, 0], [1, 1], [0, {number}]]]}}',
    ):
        body = f'{{"id": "zone-nan", "allowed_region": {region}}}'.encode()
        r = client.post("/api/v1/zones", content=body, headers=headers)
        assert 400 <= r.status_code < 500, (region, r.status_code, r.text)
    assert client.get("/api/v1/audit/verify", headers=ADMIN_HEADERS).json()["ok"]


def test_one_enrollment_token_enrolls_one_device_under_concurrency(client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ensure_zone(client)
    token = client.post("/api/v1/enrollment-tokens", json={"zone": "eu-west"}, headers=ADMIN_HEADERS).json()[
        "token"
    ]

    def attempt(i: int) -> int:
        body = {"public_key": public_key_b64(Ed25519PrivateKey.generate()), "inventory": inventory(f"h{i}")}
        r = client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(attempt, range(16)))
    assert codes.count(200) == 1 and set(codes) == {200, 403}, codes
    assert len(client.get("/api/v1/devices", headers=ADMIN_HEADERS).json()) == 1


def test_an_enrollment_inventory_from_the_future_is_refused(client, clock) -> None:
    ensure_zone(client)
    token = client.post("/api/v1/enrollment-tokens", json={"zone": "eu-west"}, headers=ADMIN_HEADERS).json()[
        "token"
    ]
    key = public_key_b64(Ed25519PrivateKey.generate())
    ahead = inventory("host-a", time_s=clock.now + 10 * 365 * 86400)
    r = client.post(
        "/api/v1/enroll",
        json={"public_key": key, "inventory": ahead},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422, r.text
    # The token is still good for a correct attempt.
    r = client.post(
        "/api/v1/enroll",
        json={"public_key": key, "inventory": inventory("host-a", time_s=clock.now)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text


def test_one_key_cannot_enroll_twice_in_another_spelling(client) -> None:
    import base64

    dev = enroll(client)
    canonical = public_key_b64(dev.key)
    raw = base64.b64decode(canonical)
    # The same 32 bytes: surrounding space, and non-zero padding bits in the last character.
    last = canonical[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sloppy = canonical[:-2] + alphabet[alphabet.index(last) ^ 1] + "="
    assert base64.b64decode(sloppy) == raw and sloppy != canonical
    for spelling in (canonical + "\n", " " + canonical, sloppy):
        token = client.post(
            "/api/v1/enrollment-tokens", json={"zone": "eu-west"}, headers=ADMIN_HEADERS
        ).json()
        body = {"public_key": spelling, "inventory": inventory("other")}
        r = client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token['token']}"})
        assert r.status_code in (409, 422), (spelling, r.status_code, r.text)


@pytest.mark.parametrize("big", [2**31, 2**63, 2**64, 10**30])
def test_huge_integers_from_agents_are_not_a_5xx(client, clock, big: int) -> None:
    dev = enroll(client)
    inv = inventory("gpu-host-1", gpus=1, time_s=clock.now)
    inv["accelerators"][0]["memory_total_bytes"] = big
    inv["accelerators"][0]["index"] = big
    inv["host"]["cpu_count"] = big
    tel = telemetry_item(clock.now, gpus=1, metrics=5)
    tel["payload"]["accelerators"][0]["index"] = big
    for item in ({"id": "inv", "kind": "inventory", "created_at": clock.now, "payload": inv}, tel):
        r = signed(client, dev, INGEST, {"items": [item]}, now=clock.now)
        assert r.status_code < 500, (item["kind"], r.status_code, r.text)
    token = client.post("/api/v1/enrollment-tokens", json={"zone": "eu-west"}, headers=ADMIN_HEADERS).json()
    body = {"public_key": public_key_b64(Ed25519PrivateKey.generate()), "inventory": inv}
    r = client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token['token']}"})
    assert r.status_code < 500, r.text
    # Whatever was refused, the device still ingests normally.
    r = signed(client, dev, INGEST, {"items": [telemetry_item(clock.now, gpus=1, metrics=5)]}, now=clock.now)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_nul_in_admin_query_and_path_parameters_is_not_a_5xx(client) -> None:
    enroll(client)
    for path in (
        "/api/v1/devices?zone=%00",
        "/api/v1/devices?q=a%00",
        "/api/v1/devices?verdict=%00&health=%00",
        "/api/v1/devices/a%00b",
        "/api/v1/devices/a%00b/verdicts",
        "/api/v1/reports/inventory?zone=%00",
        "/api/v1/reports/compliance?zone=%00&format=csv",
        "/api/v1/dashboard/hosts/a%00b",
        "/api/v1/dashboard/hosts/a%00b/telemetry?metric=%00",
    ):
        r = client.get(path, headers=ADMIN_HEADERS)
        assert r.status_code < 500, (path, r.status_code, r.text)
    for method, path in (("DELETE", "/api/v1/devices/a%00b"), ("POST", "/api/v1/devices/a%00b/rebaseline")):
        r = client.request(method, path, headers=ADMIN_HEADERS)
        assert r.status_code < 500, (path, r.status_code, r.text)
