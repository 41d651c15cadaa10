from __future__ import annotations

import socket
import time

import pytest

from fleetproof.errors import ConfigError
from fleetproof.probe.keys import generate_key
from fleetproof.probe.netem import DelayModel, RelayNetwork, great_circle_km
from fleetproof.probe.records import LandmarkEntry


def test_great_circle_known_distances() -> None:
    assert great_circle_km(51.5074, -0.1278, 40.7128, -74.0060) == pytest.approx(5570, rel=0.005)
    assert great_circle_km(0, 0, 0, 180) == pytest.approx(20015, rel=0.001)
    assert great_circle_km(10, 10, 10, 10) == 0.0


def test_delay_model() -> None:
    model = DelayModel(inflation=1.5, base_ms=0.5)
    # 1000 km at 2/3 c is 5.0035 ms; inflated 1.5×, plus base
    assert model.one_way_ms(1000) == pytest.approx(1000 / 199.861638 * 1.5 + 0.5)
    with pytest.raises(ConfigError):
        DelayModel(inflation=0.5)
    with pytest.raises(ConfigError):
        DelayModel(time_scale=0)


def echo_server() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    return sock


def test_relay_delays_both_legs_and_keeps_clients_apart() -> None:
    server = echo_server()
    with RelayNetwork(DelayModel(jitter_ms=1.0, time_scale=0.5)) as network:
        port = network.add_relay(server.getsockname(), one_way_ms=10.0)
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        sources = set()
        for n, client in enumerate(clients):
            client.settimeout(2)
            start = time.monotonic()
            client.sendto(b"ping%d" % n, ("127.0.0.1", port))
            data, source = server.recvfrom(100)
            one_leg = time.monotonic() - start
            sources.add(source)
            server.sendto(data, source)
            assert client.recvfrom(100)[0] == b"ping%d" % n
            rtt = time.monotonic() - start
            assert one_leg >= 0.005  # 10 ms × 0.5
            assert rtt >= 0.010
            client.close()
        assert len(sources) == 2  # one upstream socket per client
        assert network.relay_count == 1
    server.close()


def test_relay_directory_points_at_relays_with_geographic_delay() -> None:
    key = generate_key()
    landmarks = [
        LandmarkEntry("near", 48.85, 2.35, "127.0.0.1:9", key.public_key()),
        LandmarkEntry("far", -33.87, 151.21, "127.0.0.1:10", key.public_key()),
    ]
    with RelayNetwork() as network:
        relayed = network.relay_directory(landmarks, 51.5, -0.12)
        relays = network._relays
        assert [r.target for r in relays] == [("127.0.0.1", 9), ("127.0.0.1", 10)]
        assert relays[0].one_way_ms == pytest.approx(
            DelayModel().one_way_ms(great_circle_km(51.5, -0.12, 48.85, 2.35))
        )
        assert relays[1].one_way_ms > 100
    assert [e.id for e in relayed] == ["near", "far"]
    assert all(
        e.address != lm.address and e.public_key is lm.public_key
        for e, lm in zip(relayed, landmarks, strict=True)
    )
