"""Delay emulation without ``tc netem``: delaying UDP relays in user space.

For one emulated device at (lat, lon), :meth:`RelayNetwork.relay_directory`
starts one relay per landmark and returns a copy of the landmark directory
whose addresses point at the relays. A relay forwards every datagram to the
real landmark and every answer back, holding each one for a one-way delay
derived from geography::

    one_way_ms = great_circle_km / (speed_fraction · c) · inflation + base_ms + U(0, jitter_ms)

(``c`` = 299.792458 km/ms; default 2/3 c and inflation 1.5), drawn afresh for
every datagram on every leg, and multiplied by ``time_scale`` before it is
slept, so that tests can run continents-apart sessions in milliseconds and
divide the measured RTTs by the same factor afterwards.

A relay only ever *adds* delay: a datagram is released no earlier than its
due time (checked against the monotonic clock, rescheduled if the event loop
wakes early). Many relays share one asyncio loop on one background thread, so
an emulated fleet of hundreds of hosts × tens of landmarks is cheap. Each relay
opens one upstream socket per client address, so the landmark sees every
emulated host as its own source.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, cast

from fleetproof.errors import ConfigError
from fleetproof.geo.sphere import distance_km
from fleetproof.probe.directory import LandmarkEntry

__all__ = ["DelayModel", "RelayNetwork", "great_circle_km"]

C_KM_PER_MS = 299.792458
Address = tuple[str, int]


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The engine's great-circle distance (:func:`fleetproof.geo.distance_km`), as a plain float."""
    return float(distance_km(lat1, lon1, lat2, lon2))


@dataclass(frozen=True)
class DelayModel:
    """How far away a landmark looks: geography at a fraction of c, inflated, plus jitter."""

    speed_fraction: float = 2 / 3
    inflation: float = 1.5
    base_ms: float = 0.0
    jitter_ms: float = 0.0
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.speed_fraction <= 1:
            raise ConfigError("speed fraction must be in (0, 1]")
        if self.inflation < 1 or self.base_ms < 0 or self.jitter_ms < 0 or self.time_scale <= 0:
            raise ConfigError("inflation must be ≥ 1; base, jitter ≥ 0; time scale > 0")

    def one_way_ms(self, distance_km: float) -> float:
        """The emulated one-way delay, before jitter and time scaling."""
        return distance_km / (self.speed_fraction * C_KM_PER_MS) * self.inflation + self.base_ms


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: _Relay, client: Address) -> None:
        self.relay = relay
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        listener = self.relay.transport
        if listener is not None:
            self.relay.network.schedule(self.relay.one_way_ms, listener.sendto, data, self.client)


class _Relay(asyncio.DatagramProtocol):
    def __init__(self, network: RelayNetwork, target: Address, one_way_ms: float) -> None:
        self.network = network
        self.target = target
        self.one_way_ms = one_way_ms
        self.transport: asyncio.DatagramTransport | None = None
        self.upstreams: OrderedDict[Address, _Upstream] = OrderedDict()
        self.pending: dict[Address, list[bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        client: Address = (str(addr[0]), int(addr[1]))
        self.network.forwarded += 1
        self.network.schedule(self.one_way_ms, self._to_landmark, data, client)

    def _to_landmark(self, data: bytes, client: Address) -> None:
        upstream = self.upstreams.get(client)
        if upstream is not None and upstream.transport is not None:
            self.upstreams.move_to_end(client)
            upstream.transport.sendto(data)
            return
        if client in self.pending:
            self.pending[client].append(data)
            return
        self.pending[client] = [data]
        asyncio.get_running_loop().create_task(self._open_upstream(client))

    async def _open_upstream(self, client: Address) -> None:
        loop = asyncio.get_running_loop()
        transport, upstream = await loop.create_datagram_endpoint(
            lambda: _Upstream(self, client), remote_addr=self.target
        )
        self.upstreams[client] = upstream
        while len(self.upstreams) > self.network.max_clients_per_relay:
            _, old = self.upstreams.popitem(last=False)
            if old.transport is not None:
                old.transport.close()
        for data in self.pending.pop(client, []):
            transport.sendto(data)

    def close(self) -> None:
        for upstream in self.upstreams.values():
            if upstream.transport is not None:
                upstream.transport.close()
        if self.transport is not None:
            self.transport.close()


@dataclass
class RelayNetwork:
    """Delaying relays on one asyncio loop in a background thread (``start``/``stop``)."""

    model: DelayModel = field(default_factory=DelayModel)
    host: str = "127.0.0.1"
    rng: random.Random = field(default_factory=random.Random)
    max_clients_per_relay: int = 1024
    forwarded: int = 0

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._relays: list[_Relay] = []

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fleetproof-netem", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self._close_all)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        loop.close()
        self._loop = None

    def __enter__(self) -> RelayNetwork:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _close_all(self) -> None:
        for relay in self._relays:
            relay.close()

    def schedule(self, one_way_ms: float, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop after one emulated leg (called on the loop's thread)."""
        jitter = self.rng.uniform(0, self.model.jitter_ms) if self.model.jitter_ms else 0.0
        delay_s = (one_way_ms + jitter) * self.model.time_scale / 1000.0
        due_ns = time.monotonic_ns() + int(delay_s * 1e9)
        assert self._loop is not None
        self._loop.call_later(delay_s, self._release, due_ns, fn, args)

    def _release(self, due_ns: int, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        early_ns = due_ns - time.monotonic_ns()
        if early_ns > 0:  # never deliver before the due time
            assert self._loop is not None
            self._loop.call_later(early_ns / 1e9, self._release, due_ns, fn, args)
            return
        fn(*args)

    def add_relay(self, target: Address, one_way_ms: float) -> int:
        """Start a relay to ``target`` adding ``one_way_ms`` (before scaling) each way; return its port."""
        if self._loop is None:
            raise RuntimeError("start the relay network first")

        async def create() -> int:
            loop = asyncio.get_running_loop()
            relay = _Relay(self, target, one_way_ms)
            transport, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=(self.host, 0))
            self._relays.append(relay)
            return int(transport.get_extra_info("sockname")[1])

        future: Future[int] = asyncio.run_coroutine_threadsafe(create(), self._loop)
        return future.result(timeout=5)

    def relay_directory(
        self, landmarks: Iterable[LandmarkEntry], lat: float, lon: float
    ) -> list[LandmarkEntry]:
        """One relay per landmark for a device emulated at (lat, lon); the directory it should use."""
        return self.relayed(
            landmarks, lambda lm: self.model.one_way_ms(great_circle_km(lat, lon, lm.lat, lm.lon))
        )

    def relayed(
        self, landmarks: Iterable[LandmarkEntry], one_way_ms: Callable[[LandmarkEntry], float]
    ) -> list[LandmarkEntry]:
        """One relay per landmark adding ``one_way_ms(landmark)`` (plus jitter) each way; their directory.

        For callers with a delay model of their own (the demo's scenario gives every end its own
        access delay); :meth:`relay_directory` is this with the network's :class:`DelayModel`.
        """
        out = []
        for lm in landmarks:
            port = self.add_relay((lm.host, lm.port), one_way_ms(lm))
            out.append(replace(lm, address=f"{self.host}:{port}"))
        return out

    @property
    def relay_count(self) -> int:
        return len(self._relays)
