from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from fleetproof.probe.keys import generate_key
from fleetproof.probe.landmark import Address, LandmarkConfig, LandmarkCore, LandmarkServer
from fleetproof.probe.prober import InMemoryNetwork
from fleetproof.probe.records import LandmarkEntry
from fleetproof.protocol.curve25519 import Ed25519PrivateKey


class MemoryWorld:
    """Landmark cores on an in-memory network with a fake clock (nothing sleeps)."""

    def __init__(self) -> None:
        self.net = InMemoryNetwork()
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.entries: dict[str, LandmarkEntry] = {}
        self.cores: dict[str, LandmarkCore] = {}

    def add(
        self, landmark_id: str, one_way_ms: float = 1.0, lat: float = 0.0, lon: float = 0.0, **config: float
    ) -> LandmarkCore:
        key = generate_key()
        address = f"10.0.0.{len(self.cores) + 1}:7331"

        def factory(send: Callable[[bytes, Address], None]) -> LandmarkCore:
            return LandmarkCore(
                key=key,
                config=LandmarkConfig(landmark_id, **config),  # type: ignore[arg-type]
                send=send,
                clock_ns=self.net.clock,
                wall_clock=lambda: 1_800_000_000.0,
            )

        core = self.net.add_landmark(address, factory, one_way_ms=one_way_ms)
        self.keys[landmark_id] = key
        self.entries[landmark_id] = LandmarkEntry(landmark_id, lat, lon, address, key.public_key())
        self.cores[landmark_id] = core
        return core


@pytest.fixture
def world() -> MemoryWorld:
    return MemoryWorld()


@pytest.fixture
def udp_landmarks() -> Iterator[Callable[[int], list[tuple[LandmarkServer, LandmarkEntry]]]]:
    """Start n real UDP landmarks on 127.0.0.1; all are stopped afterwards."""
    started: list[LandmarkServer] = []

    def start(n: int, **config: float) -> list[tuple[LandmarkServer, LandmarkEntry]]:
        out = []
        for i in range(n):
            key = generate_key()
            server = LandmarkServer(key, LandmarkConfig(f"lm{len(started)}", **config))  # type: ignore[arg-type]
            port = server.start()
            started.append(server)
            out.append(
                (
                    server,
                    LandmarkEntry(
                        server.core.config.landmark_id,
                        10.0 * i,
                        20.0 * i,
                        f"127.0.0.1:{port}",
                        key.public_key(),
                    ),
                )
            )
        return out

    yield start
    for server in started:
        server.stop()
