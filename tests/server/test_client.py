"""The agent side: enrollment and the HTTP transport the outbox drives, against the real app."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from server_helpers import ADMIN_HEADERS, ensure_zone, telemetry_item

from fleetproof.agent.client import HttpTransport, enroll, load_identity, make_transport
from fleetproof.agent.enroll_cli import add_enroll_command, host_inventory
from fleetproof.agent.transport import OutboxItem, TransportError
from fleetproof.errors import ConfigError


def outbox(items: list[dict]) -> list[OutboxItem]:
    return [OutboxItem(i["id"], i["kind"], i["created_at"], i["payload"]) for i in items]


def token_for(client, zone: str = "eu-west") -> str:
    ensure_zone(client, zone)
    return client.post("/api/v1/enrollment-tokens", json={"zone": zone}, headers=ADMIN_HEADERS).json()[
        "token"
    ]


@pytest.fixture
def enrolled(client, tmp_path: Path, clock):
    identity = enroll(
        "http://testserver", token_for(client), tmp_path / "state", host_inventory("h1"), client=client
    )
    key_mode = (tmp_path / "state" / "device.key").stat().st_mode & 0o777
    assert key_mode == 0o600
    return identity, tmp_path / "state"


def test_enroll_then_deliver_through_the_outbox_interface(client, enrolled, clock) -> None:
    identity, state = enrolled
    assert load_identity(state) == identity and identity.zone == "eu-west"
    transport = make_transport(type("S", (), {"state_dir": state, "server_url": None})())
    assert isinstance(transport, HttpTransport)
    transport.client = client  # the app in-process instead of a socket
    transport.clock = clock
    items = outbox([telemetry_item(clock.now - i, hostname="h1") for i in range(7)])
    transport.max_items = 3  # three requests
    transport.send(items)
    transport.send(items)  # re-delivery after a crash: accepted again, stored once
    devices = client.get("/api/v1/devices", headers=ADMIN_HEADERS).json()
    assert devices[0]["id"] == identity.device_id and devices[0]["hostname"] == "h1"
    # Landmarks for the prober come through the same signed channel.
    assert transport.get_landmarks() == []


def test_transport_maps_answers_to_retry_policy(enrolled) -> None:
    identity, state = enrolled
    from fleetproof.probe.keys import load_private_key

    key = load_private_key(state / "device.key")
    item = outbox([telemetry_item(1.0)])

    def transport_answering(status: int, sizes: list[int] | None = None) -> HttpTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            n = len(json.loads(request.content)["items"])
            if sizes is not None:
                sizes.append(n)
                if n > 1:
                    return httpx.Response(413, json={"detail": "too big"})
            return httpx.Response(
                status, json={"detail": "x", "accepted": n, "duplicates": 0, "rejected": []}
            )

        return HttpTransport(
            "http://x", identity.device_id, key, client=httpx.Client(transport=httpx.MockTransport(handler))
        )

    for status, retryable in ((500, True), (503, True), (401, True), (429, True), (422, False), (400, False)):
        with pytest.raises(TransportError) as exc:
            transport_answering(status).send(item)
        assert exc.value.retryable is retryable, status
    sizes: list[int] = []
    transport_answering(200, sizes).send(outbox([telemetry_item(float(i)) for i in range(4)]))
    assert sizes.count(1) == 4  # split down to single items after 413s

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    down = HttpTransport(
        "http://x", identity.device_id, key, client=httpx.Client(transport=httpx.MockTransport(refuse))
    )
    with pytest.raises(TransportError) as exc:
        down.send(item)
    assert exc.value.retryable


def test_items_refused_for_good_are_reported_not_retried(client, enrolled, clock) -> None:
    _identity, state = enrolled
    transport = make_transport(type("S", (), {"state_dir": state})())
    transport.client, transport.clock = client, clock
    bad = telemetry_item(clock.now)
    bad["payload"]["accelerators"] = "nope"
    transport.send(outbox([bad, telemetry_item(clock.now)]))
    assert [r["id"] for r in transport.rejected] == [bad["id"]]


def test_not_enrolled_and_bad_token_are_clear_errors(client, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not enrolled"):
        make_transport(type("S", (), {"state_dir": tmp_path})())
    with pytest.raises(ConfigError, match="403"):
        enroll("http://testserver", "fpe_wrong", tmp_path / "s", host_inventory("h"), client=client)


def test_enroll_command_is_added_to_the_agent_group() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_enroll_command(sub)
    args = parser.parse_args(
        ["enroll", "--server", "http://127.0.0.1:1", "--token", "t", "--state-dir", "/tmp/x"]
    )
    assert args.server == "http://127.0.0.1:1" and callable(args.handler)
