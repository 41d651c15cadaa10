"""The device side of the probe: run a session with each landmark, keep the signed records.

:class:`Prober` probes a list of landmarks and returns a :class:`ProbeResult`:
the landmark-signed records it received (each checked against the landmark's
directory key before it is kept) and the landmarks it could not measure, with
the reason. An unreachable landmark is a result, not an error.

How packets travel is injected (a :class:`ProbeTransport`): :class:`UdpTransport`
for real use, :class:`InMemoryNetwork` for tests, where landmark cores are called
directly, a fake clock advances by a chosen one-way delay per leg, and nothing
sleeps. The agent runs ``Prober.probe`` periodically and pushes the records.

The device's fast path (between receiving a NONCE and sending its RESPONSE) is
one length/prefix check and one keyed BLAKE2s: see :mod:`fleetproof.probe.wire`.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from fleetproof.probe import wire
from fleetproof.probe.directory import LandmarkEntry
from fleetproof.probe.keys import public_key_b64, public_key_bytes
from fleetproof.probe.landmark import Address, LandmarkCore
from fleetproof.probe.record_check import RecordError, SignedRecord, parse_record_json, verify_record
from fleetproof.protocol.curve25519 import Ed25519PrivateKey, InvalidSignature, X25519PrivateKey

if TYPE_CHECKING:
    from fleetproof.probe.records import MeasurementRecord

__all__ = [
    "FakeClock",
    "InMemoryNetwork",
    "ProbeChannel",
    "ProbeFailed",
    "ProbeResult",
    "ProbeTransport",
    "Prober",
    "UdpTransport",
    "Unreachable",
]


TIMED_PHASE_MIN_WAIT_S = 2.0


class ProbeChannel(Protocol):
    """A datagram path to one landmark."""

    def send(self, packet: bytes) -> None: ...

    def recv(self, timeout_s: float) -> bytes | None:
        """The next datagram, or None when nothing came within ``timeout_s``."""
        ...

    def close(self) -> None: ...


class ProbeTransport(Protocol):
    def open(self, landmark: LandmarkEntry) -> ProbeChannel: ...


class ProbeFailed(Exception):
    """One landmark could not be measured; the message says why."""


@dataclass(frozen=True)
class Unreachable:
    landmark_id: str
    reason: str


@dataclass
class ProbeResult:
    """The records a round got, checked, in landmark order, and the landmarks it could not measure.

    ``signed`` holds them as the prober parsed them (no pydantic: the agent sends their
    ``to_dict()``); ``records`` gives them as :class:`~fleetproof.probe.records.MeasurementRecord`.
    """

    signed: list[SignedRecord] = field(default_factory=list)
    unreachable: list[Unreachable] = field(default_factory=list)

    @property
    def records(self) -> list[MeasurementRecord]:
        from fleetproof.probe.records import MeasurementRecord

        return [MeasurementRecord.model_validate(r.to_dict()) for r in self.signed]


# -- UDP ------------------------------------------------------------------------
class _UdpChannel:
    def __init__(self, landmark: LandmarkEntry) -> None:
        infos = socket.getaddrinfo(landmark.host, landmark.port, type=socket.SOCK_DGRAM)
        family, _, _, _, sockaddr = infos[0]
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.connect(sockaddr)
        self._timeout: float | None = None

    def send(self, packet: bytes) -> None:
        try:  # noqa: SIM105 (hot path: a bare try is cheaper than suppress())
            self._sock.send(packet)
        except OSError:
            pass  # an ICMP error from an earlier packet; the next recv times out and the probe retries

    def recv(self, timeout_s: float) -> bytes | None:
        if timeout_s != self._timeout:
            self._sock.settimeout(timeout_s)
            self._timeout = timeout_s
        try:
            return self._sock.recv(4096)
        except OSError:  # a timeout, or an ICMP error (refused, host or net unreachable) of an earlier send
            return None

    def close(self) -> None:
        self._sock.close()


class UdpTransport:
    """Real UDP: one connected socket per landmark session."""

    def open(self, landmark: LandmarkEntry) -> ProbeChannel:
        try:
            return _UdpChannel(landmark)
        except OSError as exc:
            raise ProbeFailed(f"cannot reach {landmark.address}: {exc}") from None


# -- in memory ----------------------------------------------------------------------
class FakeClock:
    """A monotonic nanosecond clock that moves only when told to."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self.now_ns = start_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, ns: int) -> None:
        self.now_ns += max(0, int(ns))


class _MemoryChannel:
    def __init__(self, network: InMemoryNetwork, target: str, source: Address) -> None:
        self._net = network
        self._target = target
        self.source = source
        self.inbox: deque[bytes] = deque()

    def send(self, packet: bytes) -> None:
        self._net.deliver(self._target, packet, self.source)

    def recv(self, timeout_s: float) -> bytes | None:
        if not self.inbox:
            self._net.clock.advance(int(timeout_s * 1e9))
            self._net.tick(self._target)
        if not self.inbox:
            return None
        self._net.clock.advance(self._net.delay_ns(self._target))
        return self.inbox.popleft()

    def close(self) -> None:
        self._net.channels.pop(self.source, None)


class InMemoryNetwork:
    """Landmark cores wired to channels with a fake clock and a one-way delay per landmark.

    ``add_landmark`` builds a :class:`LandmarkCore` whose clock is this network's
    clock; a packet's trip in either direction advances the clock by that
    landmark's one-way delay, so the RTT a core measures is exactly twice it
    plus whatever delay a test inserts (e.g. a relay) — with no sleeping. It is
    single-threaded: use it with ``Prober(concurrency=1)``.
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.cores: dict[str, LandmarkCore] = {}
        self.one_way_ns: dict[str, int] = {}
        self.channels: dict[Address, _MemoryChannel] = {}
        self.dropped: Callable[[str, bytes], bool] = lambda address, packet: False
        self._next_port = 40000
        self._lock = threading.Lock()

    def add_landmark(
        self,
        address: str,
        core_factory: Callable[[Callable[[bytes, Address], None]], LandmarkCore],
        one_way_ms: float = 0.0,
    ) -> LandmarkCore:
        core = core_factory(self._route)
        self.cores[address] = core
        self.one_way_ns[address] = int(one_way_ms * 1e6)
        return core

    def delay_ns(self, address: str) -> int:
        return self.one_way_ns.get(address, 0)

    def _route(self, packet: bytes, addr: Address) -> None:
        channel = self.channels.get(addr)
        if channel is not None:
            channel.inbox.append(packet)

    def deliver(self, address: str, packet: bytes, source: Address) -> None:
        core = self.cores.get(address)
        if core is None or self.dropped(address, packet):
            return
        self.clock.advance(self.delay_ns(address))
        core.handle(packet, source, self.clock())
        core.flush()

    def tick(self, address: str) -> None:
        core = self.cores.get(address)
        if core is not None:
            core.tick(self.clock())
            core.flush()

    def open(self, landmark: LandmarkEntry) -> ProbeChannel:
        with self._lock:
            self._next_port += 1
            source = ("127.0.0.1", self._next_port)
        channel = _MemoryChannel(self, landmark.address, source)
        self.channels[source] = channel
        return channel


def _error_text(packet: bytes) -> str:
    """The message of an ERROR packet; a truncated one is still a refusal, not a crash."""
    try:
        _, code, text = wire.decode_error(packet)
    except wire.PacketError:
        return "(truncated error packet)"
    return wire.printable(text) or _ERROR_NAMES.get(code, f"error {code}")


_ERROR_NAMES = {
    wire.ERR_RATE_LIMITED: "rate limited",
    wire.ERR_BUSY: "landmark busy",
    wire.ERR_BAD_CONFIRM: "device signature invalid",
    wire.ERR_UNKNOWN_SESSION: "unknown session",
    wire.ERR_EXPIRED: "no valid replies",
}


# -- the prober -------------------------------------------------------------------------
@dataclass
class Prober:
    """Probe landmarks as device ``device_id`` holding ``key``."""

    key: Ed25519PrivateKey
    device_id: str
    transport: ProbeTransport
    samples: int = 10
    timeout_s: float = 1.0
    retries: int = 3
    jitter_s: float = 0.0
    concurrency: int = 4
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not 0 < self.samples <= wire.MAX_SAMPLES:
            raise ValueError(f"samples must be 1..{wire.MAX_SAMPLES}")
        if not self.device_id or len(self.device_id.encode()) > wire.MAX_ID_BYTES:
            raise ValueError("device id must be 1 to 128 bytes")
        self._public = public_key_bytes(self.key)
        self._public_b64 = public_key_b64(self.key)

    def probe(self, landmarks: Iterable[LandmarkEntry]) -> ProbeResult:
        """Probe every landmark (in random order, with jitter); never raises for one landmark."""
        todo = list(landmarks)
        self.rng.shuffle(todo)
        delays = [self.rng.uniform(0, self.jitter_s) if self.jitter_s > 0 else 0.0 for _ in todo]

        def one(item: tuple[LandmarkEntry, float]) -> SignedRecord | Unreachable:
            landmark, delay = item
            if delay:
                self.sleep(delay)
            try:
                return self.probe_signed(landmark)
            except ProbeFailed as exc:
                return Unreachable(landmark.id, str(exc))

        if self.concurrency <= 1 or len(todo) <= 1:
            outcomes = [one(item) for item in zip(todo, delays, strict=True)]
        else:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                outcomes = list(pool.map(one, zip(todo, delays, strict=True)))
        result = ProbeResult()
        for outcome in outcomes:
            if isinstance(outcome, SignedRecord):
                result.signed.append(outcome)
            else:
                result.unreachable.append(outcome)
        result.signed.sort(key=lambda r: r.landmark_id)
        result.unreachable.sort(key=lambda u: u.landmark_id)
        return result

    def probe_one(self, landmark: LandmarkEntry) -> MeasurementRecord:
        """One session with one landmark; raise :class:`ProbeFailed` saying why it failed."""
        from fleetproof.probe.records import MeasurementRecord

        return MeasurementRecord.model_validate(self.probe_signed(landmark).to_dict())

    def probe_signed(self, landmark: LandmarkEntry) -> SignedRecord:
        """:meth:`probe_one`, the record as the prober checked it (no pydantic)."""
        channel = self.transport.open(landmark)
        try:
            hello_pkt, accept_pkt, key = self._handshake(channel, landmark)
            sid = wire.Accept.decode(accept_pkt).session_id
            signature = self.key.sign(wire.confirm_message(hello_pkt, accept_pkt))
            confirm = wire.confirm_packet(sid, signature)
            channel.send(confirm)
            return self._timed_phase(channel, landmark, sid, key, confirm)
        finally:
            channel.close()

    def _handshake(self, channel: ProbeChannel, landmark: LandmarkEntry) -> tuple[bytes, bytes, bytes]:
        eph = X25519PrivateKey.generate()
        eph_pub = eph.public_key().public_bytes_raw()
        hello_pkt = wire.Hello(os.urandom(16), eph_pub, self._public, self.samples, self.device_id).encode()
        for _ in range(self.retries + 1):
            channel.send(hello_pkt)
            deadline = time.monotonic() + self.timeout_s
            while (packet := channel.recv(max(deadline - time.monotonic(), 0.001))) is not None:
                kind = wire.kind_of(packet)
                if kind == wire.T_ERROR:
                    raise ProbeFailed(f"landmark refused: {_error_text(packet)}")
                if kind != wire.T_ACCEPT:
                    continue
                accept = self._check_accept(packet, hello_pkt, landmark)
                try:
                    key = wire.derive_session_key(eph, accept.ephemeral_public, hello_pkt, packet)
                except ValueError:  # a low-order X25519 point: no shared secret
                    raise ProbeFailed("ACCEPT carries an unusable X25519 key") from None
                return hello_pkt, packet, key
        raise ProbeFailed(f"no answer from {landmark.address} after {self.retries + 1} tries")

    @staticmethod
    def _check_accept(packet: bytes, hello_pkt: bytes, landmark: LandmarkEntry) -> wire.Accept:
        try:
            accept = wire.Accept.decode(packet)
        except wire.PacketError as exc:
            raise ProbeFailed(f"malformed ACCEPT: {exc}") from None
        try:
            landmark.public_key.verify(accept.signature, wire.accept_message(hello_pkt, accept.unsigned()))
        except InvalidSignature:
            raise ProbeFailed("ACCEPT is not signed by the landmark's directory key") from None
        if accept.landmark_id != landmark.id:
            raise ProbeFailed(f"landmark calls itself {accept.landmark_id!r}, directory says {landmark.id!r}")
        return accept

    def _timed_phase(
        self, channel: ProbeChannel, landmark: LandmarkEntry, sid: bytes, key: bytes, confirm: bytes
    ) -> SignedRecord:
        nonce_prefix = wire.H_NONCE + sid
        seen_nonce = False
        idle = 0
        recv, send, response = channel.recv, channel.send, wire.response_packet
        # The landmark replaces a lost nonce only after its own nonce timeout (1 s by default), so
        # silence shorter than that is not yet a reason to give up.
        patience_s = max(self.timeout_s, TIMED_PHASE_MIN_WAIT_S)
        # An honest landmark sends at most 2k+2 nonces and one record (plus what the network
        # duplicates); a landmark, or anyone spoofing it, that keeps talking must not keep the
        # device answering or waiting forever.
        budget = 8 * (2 * self.samples + 2 + self.retries)
        while idle <= self.retries:
            packet = recv(patience_s)
            budget -= 1
            if budget < 0:
                raise ProbeFailed(f"{landmark.address} sent more packets than a session needs")
            if packet is None:
                idle += 1
                send(wire.H_FETCH + sid if seen_nonce else confirm)
                continue
            if len(packet) == wire.NONCE_LEN and packet[:12] == nonce_prefix:
                send(response(key, packet))  # the device's fast path
                seen_nonce = True
                idle = 0
                continue
            kind = wire.kind_of(packet)
            if kind == wire.T_RECORD and packet[4:12] == sid:
                return self._check_record(packet[12:], landmark, sid)
            if kind == wire.T_ERROR and packet[4:12] == sid:
                raise ProbeFailed(f"landmark ended the session: {_error_text(packet)}")
        raise ProbeFailed(f"{landmark.address} stopped answering during the timed phase")

    def _check_record(self, body: bytes, landmark: LandmarkEntry, sid: bytes) -> SignedRecord:
        try:
            record = parse_record_json(body)
            verify_record(record, landmark.public_key)
        except RecordError as exc:
            raise ProbeFailed(f"landmark sent an invalid record: {exc}") from None
        expected = (self.device_id, self._public_b64, landmark.id, sid.hex())
        if (record.device_id, record.device_public_key, record.landmark_id, record.session_id) != expected:
            raise ProbeFailed("landmark's record names another device, landmark or session")
        return record
