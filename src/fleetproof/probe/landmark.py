"""The landmark daemon: times signed challenge–responses and signs what it measured.

Two layers, so that tests need no sockets and no sleeping:

* :class:`LandmarkCore` is the protocol state machine. It is fed datagrams with
  the time they arrived (``handle``), told the time now and then (``tick``),
  and asked to sign finished sessions (``flush``); it sends through an injected
  ``send(packet, address)`` and reads an injected monotonic nanosecond clock.
* :class:`LandmarkServer` drives a core from one UDP socket on one thread:
  ``start()`` returns the bound port, ``stop()`` ends it; ``counters`` are live.

The fast path is what happens between stamping a nonce's send time and stamping
its reply's arrival. On the landmark side it holds only ``sendto`` and the
wake-up from ``poll``: the next nonce packet and the reply it expects are built
*before* the clock starts, so checking a reply is one constant-time comparison
of two 30-byte strings. Public-key work (ACCEPT signature, CONFIRM check,
record signatures) stays outside it; record signatures are made in batches when
the socket has drained, or at least every ``flush_every`` packets under load.

Defences: a per-source-address token bucket on new sessions, a per-source cap
on open sessions, a global cap on sessions, bounded tables for sources and for
the finished-record cache, and counters for every rejected datagram:
``malformed``, ``rejected`` (unknown session, wrong sender, wrong state),
``replayed`` (a nonce answered twice), ``late`` (valid reply after its nonce
timed out), ``forged`` (bad MAC or bad CONFIRM signature) and ``rate_limited``.
"""

from __future__ import annotations

import base64
import heapq
import hmac
import logging
import os
import select
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from fleetproof.errors import ConfigError
from fleetproof.probe import wire
from fleetproof.probe.keys import public_key_b64
from fleetproof.probe.record_check import signed_record_json
from fleetproof.protocol.curve25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    InvalidSignature,
    X25519PrivateKey,
)

__all__ = ["Address", "Counters", "LandmarkConfig", "LandmarkCore", "LandmarkServer"]

Address = tuple[str, int]
SendFn = Callable[[bytes, Address], None]

_AWAIT_CONFIRM, _TIMING = 1, 2
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandmarkConfig:
    """Tunables; the defaults suit one landmark serving a fleet over the internet."""

    landmark_id: str
    nonce_timeout_s: float = 1.0
    handshake_timeout_s: float = 5.0
    max_sessions: int = 8192
    max_sessions_per_source: int = 512
    sessions_per_source_per_s: float = 500.0
    session_burst: int = 1000
    max_sources: int = 65536
    record_cache_size: int = 8192
    flush_every: int = 256
    ephemeral_lifetime_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.landmark_id or len(self.landmark_id.encode()) > wire.MAX_ID_BYTES:
            raise ConfigError("landmark id must be 1 to 128 bytes")
        if self.nonce_timeout_s <= 0 or self.handshake_timeout_s <= 0:
            raise ConfigError("timeouts must be positive")


@dataclass
class Counters:
    """What the landmark has seen; every rejected datagram lands in exactly one counter."""

    received: int = 0
    malformed: int = 0
    rejected: int = 0
    replayed: int = 0
    late: int = 0
    forged: int = 0
    rate_limited: int = 0
    busy: int = 0
    sessions_started: int = 0
    sessions_confirmed: int = 0
    sessions_completed: int = 0
    sessions_expired: int = 0
    responses_ok: int = 0
    nonces_lost: int = 0
    records_signed: int = 0
    records_resent: int = 0
    internal_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Session:
    __slots__ = (
        "accept_pkt",
        "accept_repeats",
        "addr",
        "answered",
        "device_id",
        "device_public",
        "expect",
        "hello_pkt",
        "key",
        "lost",
        "next_deadline",
        "old",
        "samples",
        "samples_ns",
        "sent_ns",
        "seq",
        "sid",
        "state",
    )

    def __init__(self, sid: bytes, addr: Address, hello: wire.Hello, hello_pkt: bytes) -> None:
        self.sid = sid
        self.addr = addr
        self.state = _AWAIT_CONFIRM
        self.hello_pkt = hello_pkt
        self.accept_pkt = b""
        self.accept_repeats = 0
        self.device_public = hello.device_public
        self.device_id = hello.device_id
        self.samples = hello.samples
        self.key = b""
        self.seq = 0
        self.expect = b""
        self.sent_ns = 0
        self.next_deadline = 0
        self.samples_ns: list[int] = []
        self.lost = 0
        self.answered: set[bytes] = set()  # replies already accepted
        self.old: dict[bytes, int] = {}  # expected replies of timed-out nonces -> seq


@dataclass
class _Bucket:
    tokens: float
    stamp_ns: int
    open_sessions: int = 0


@dataclass
class LandmarkCore:
    """Protocol state machine of one landmark (no sockets, no threads)."""

    MAX_ACCEPT_REPEATS: ClassVar[int] = 8
    """ACCEPTs re-sent per session for a repeated HELLO: enough for a prober's retries, and a
    HELLO spoofed from a victim's address cannot buy an unbounded stream of them."""

    key: Ed25519PrivateKey
    config: LandmarkConfig
    send: SendFn
    clock_ns: Callable[[], int] = time.monotonic_ns
    wall_clock: Callable[[], float] = time.time
    random_bytes: Callable[[int], bytes] = os.urandom
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self._sessions: dict[bytes, _Session] = {}
        self._by_hello: dict[bytes, bytes] = {}
        self._sources: OrderedDict[str, _Bucket] = OrderedDict()
        self._to_sign: list[_Session] = []
        self._records: OrderedDict[bytes, tuple[bytes, Address]] = OrderedDict()  # sid -> (packet, owner)
        self._deadlines: list[tuple[int, bytes]] = []  # (deadline_ns, session id), a heap
        self._nonce_timeout_ns = int(self.config.nonce_timeout_s * 1e9)
        self._handshake_timeout_ns = int(self.config.handshake_timeout_s * 1e9)
        self._public_b64 = public_key_b64(self.key)
        self._eph: tuple[X25519PrivateKey, bytes] | None = None
        self._eph_born_ns = 0
        self._eph_lifetime_ns = int(self.config.ephemeral_lifetime_s * 1e9)

    # -- the hot path ------------------------------------------------------
    def handle(self, data: bytes, addr: Address, now_ns: int) -> None:
        """Process one datagram that arrived at ``now_ns`` (stamped by the caller on receipt)."""
        self.counters.received += 1
        if len(data) == wire.RESPONSE_LEN and data[:4] == wire.H_RESPONSE:
            session = self._sessions.get(data[4:12])
            if session is None or session.addr != addr or session.state != _TIMING:
                if session is None and data[4:12] in self._records:
                    self.counters.replayed += 1  # a reply to a session that has already ended
                else:
                    self.counters.rejected += 1
                return
            if hmac.compare_digest(data, session.expect):
                self._sample(session, now_ns - session.sent_ns, now_ns)
            else:
                self._bad_response(session, data)
            return
        kind = wire.kind_of(data)
        if kind == wire.T_HELLO:
            self._hello(data, addr, now_ns)
        elif kind == wire.T_CONFIRM:
            self._confirm(data, addr, now_ns)
        elif kind == wire.T_FETCH and len(data) == 12:
            self._fetch(data[4:12], addr)
        else:
            self.counters.malformed += 1

    def _send_nonce(self, session: _Session, now_ns: int) -> None:
        """Build nonce and expected reply first, then start the clock and send."""
        session.seq += 1
        nonce_pkt = wire.nonce_packet(session.sid, session.seq, self.random_bytes(wire.NONCE_BYTES))
        session.expect = wire.response_packet(session.key, nonce_pkt)
        session.sent_ns = self.clock_ns()
        self.send(nonce_pkt, session.addr)
        session.next_deadline = session.sent_ns + self._nonce_timeout_ns
        heapq.heappush(self._deadlines, (session.next_deadline, session.sid))

    def _sample(self, session: _Session, rtt_ns: int, now_ns: int) -> None:
        self.counters.responses_ok += 1
        session.answered.add(session.expect)
        session.samples_ns.append(rtt_ns)
        if len(session.samples_ns) >= session.samples:
            self._finish(session)
        else:
            self._send_nonce(session, now_ns)

    def _bad_response(self, session: _Session, data: bytes) -> None:
        if data in session.answered:
            self.counters.replayed += 1
        elif data in session.old:
            self.counters.late += 1
        else:
            self.counters.forged += 1

    # -- handshake -----------------------------------------------------------
    def _admit(self, host: str, now_ns: int) -> _Bucket | None:
        bucket = self._sources.get(host)
        cfg = self.config
        if bucket is None:
            if len(self._sources) >= cfg.max_sources:
                self._evict_source()
            bucket = _Bucket(float(cfg.session_burst), now_ns)
            self._sources[host] = bucket
        else:
            self._sources.move_to_end(host)
            elapsed_s = (now_ns - bucket.stamp_ns) / 1e9
            bucket.tokens = min(
                float(cfg.session_burst), bucket.tokens + elapsed_s * cfg.sessions_per_source_per_s
            )
            bucket.stamp_ns = now_ns
        if bucket.tokens < 1.0 or bucket.open_sessions >= cfg.max_sessions_per_source:
            return None
        bucket.tokens -= 1.0
        return bucket

    def _evict_source(self) -> None:
        """Forget the least recently seen source without open sessions.

        Busy sources walked past go to the recent end, so the next eviction does not walk
        past them again: otherwise thousands of long sessions from addresses that send no
        new HELLO made every HELLO from a new address a scan of thousands of entries.
        """
        busy: list[str] = []
        for host, bucket in self._sources.items():
            if bucket.open_sessions == 0:
                del self._sources[host]
                break
            busy.append(host)
        else:  # every source has sessions open: the table keeps its order
            self._sources.popitem(last=False)
            return
        for host in busy:
            self._sources.move_to_end(host)

    def _hello(self, data: bytes, addr: Address, now_ns: int) -> None:
        try:
            hello = wire.Hello.decode(data)
        except wire.PacketError:
            self.counters.malformed += 1
            return
        known = self._sessions.get(self._by_hello.get(data, b""))
        if known is not None and known.addr == addr:
            if known.accept_repeats >= self.MAX_ACCEPT_REPEATS:
                self.counters.rate_limited += 1
                return
            known.accept_repeats += 1
            self.send(known.accept_pkt, addr)  # the ACCEPT was lost: repeat it
            return
        if len(self._sessions) >= self.config.max_sessions:
            self.counters.busy += 1
            self.send(wire.error_packet(bytes(8), wire.ERR_BUSY, "landmark busy"), addr)
            return
        bucket = self._admit(addr[0], now_ns)
        if bucket is None:
            self.counters.rate_limited += 1
            self.send(wire.error_packet(bytes(8), wire.ERR_RATE_LIMITED, "rate limited"), addr)
            return
        bucket.open_sessions += 1
        self._open_session(hello, data, addr, now_ns)

    def _open_session(self, hello: wire.Hello, data: bytes, addr: Address, now_ns: int) -> None:
        sid = self.random_bytes(wire.SESSION_ID_BYTES)
        while sid in self._sessions:
            sid = self.random_bytes(wire.SESSION_ID_BYTES)
        eph, eph_pub = self._ephemeral(now_ns)
        draft = wire.Accept(sid, eph_pub, self.random_bytes(16), self.config.landmark_id, b"")
        signature = self.key.sign(wire.accept_message(data, draft.unsigned()))
        accept_pkt = draft.unsigned() + signature
        session = _Session(sid, addr, hello, data)
        session.accept_pkt = accept_pkt
        try:
            session.key = wire.derive_session_key(eph, hello.ephemeral_public, data, accept_pkt)
        except ValueError:  # a low-order X25519 point
            self.counters.malformed += 1
            self._sources[addr[0]].open_sessions -= 1
            return
        session.next_deadline = now_ns + self._handshake_timeout_ns
        heapq.heappush(self._deadlines, (session.next_deadline, sid))
        self._sessions[sid] = session
        self._by_hello[data] = sid
        self.counters.sessions_started += 1
        self.send(accept_pkt, addr)

    def _ephemeral(self, now_ns: int) -> tuple[X25519PrivateKey, bytes]:
        """The landmark's X25519 half, renewed every ``ephemeral_lifetime_s``.

        Every session key still differs (the device's half and both randoms are
        fresh per session); sharing the landmark's half for a second saves a key
        generation per session.
        """
        if self._eph is None or now_ns - self._eph_born_ns >= self._eph_lifetime_ns:
            eph = X25519PrivateKey.generate()
            self._eph = (eph, eph.public_key().public_bytes_raw())
            self._eph_born_ns = now_ns
        return self._eph

    def _confirm(self, data: bytes, addr: Address, now_ns: int) -> None:
        if len(data) != wire.CONFIRM_LEN:
            self.counters.malformed += 1
            return
        session = self._sessions.get(data[4:12])
        if session is None or session.addr != addr or session.state != _AWAIT_CONFIRM:
            self.counters.rejected += 1
            return
        message = wire.confirm_message(session.hello_pkt, session.accept_pkt)
        try:
            Ed25519PublicKey.from_public_bytes(session.device_public).verify(data[12:], message)
        except (InvalidSignature, ValueError):
            self.counters.forged += 1
            self.send(wire.error_packet(session.sid, wire.ERR_BAD_CONFIRM, "device signature invalid"), addr)
            self._close(session)
            return
        self.counters.sessions_confirmed += 1
        session.state = _TIMING
        self._send_nonce(session, now_ns)

    # -- timers, completion, records -------------------------------------------
    def tick(self, now_ns: int) -> None:
        """Expire handshakes and nonces whose time is up (call at least every few ms)."""
        due: list[_Session] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now_ns:
            deadline, sid = heapq.heappop(heap)
            session = self._sessions.get(sid)
            if session is not None and session.next_deadline == deadline:
                due.append(session)
        if len(heap) > 4 * len(self._sessions) + 1024:  # answered nonces leave stale entries: compact
            self._deadlines = [(s.next_deadline, s.sid) for s in self._sessions.values()]
            heapq.heapify(self._deadlines)
        for session in due:
            if session.state == _AWAIT_CONFIRM:
                self.counters.sessions_expired += 1
                self._close(session)
                continue
            session.lost += 1
            self.counters.nonces_lost += 1
            session.old[session.expect] = session.seq
            if session.seq >= 2 * session.samples + 2:
                if session.samples_ns:
                    self._finish(session)
                else:
                    self.counters.sessions_expired += 1
                    self.send(
                        wire.error_packet(session.sid, wire.ERR_EXPIRED, "no valid replies"), session.addr
                    )
                    self._close(session)
            else:
                self._send_nonce(session, now_ns)

    def _close(self, session: _Session) -> None:
        self._sessions.pop(session.sid, None)
        if self._by_hello.get(session.hello_pkt) == session.sid:
            del self._by_hello[session.hello_pkt]
        bucket = self._sources.get(session.addr[0])
        if bucket is not None and bucket.open_sessions > 0:
            bucket.open_sessions -= 1

    def _finish(self, session: _Session) -> None:
        self.counters.sessions_completed += 1
        self._close(session)
        self._to_sign.append(session)

    @property
    def pending_records(self) -> int:
        return len(self._to_sign)

    def flush(self) -> int:
        """Sign every finished session's record and send it; return how many."""
        batch, self._to_sign = self._to_sign, []
        for session in batch:
            record_json = signed_record_json(
                key=self.key,
                device_id=session.device_id,
                device_public_key=base64.b64encode(session.device_public).decode("ascii"),
                landmark_id=self.config.landmark_id,
                session_id=session.sid.hex(),
                samples_ms=[ns / 1e6 for ns in session.samples_ns],
                lost=session.lost,
                time=self.wall_clock(),
            )
            packet = wire.H_RECORD + session.sid + record_json
            self._records[session.sid] = (packet, session.addr)
            if len(self._records) > self.config.record_cache_size:
                self._records.popitem(last=False)
            self.counters.records_signed += 1
            self.send(packet, session.addr)
        return len(batch)

    def _fetch(self, sid: bytes, addr: Address) -> None:
        """Re-send a cached record, but only to the address that ran the session.

        A FETCH is 12 bytes and a record several hundred; answering any sender would let a
        spoofer reflect records at a victim, as often as it likes.
        """
        cached = self._records.get(sid)
        if cached is None:
            if sid not in self._sessions:
                self.counters.rejected += 1
                # no text: anyone may send this, so the answer is no larger than the question
                self.send(wire.error_packet(sid, wire.ERR_UNKNOWN_SESSION, ""), addr)
            return
        packet, owner = cached
        if owner != addr:
            self.counters.rejected += 1
            return
        self.counters.records_resent += 1
        self.send(packet, addr)

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    def info(self) -> dict[str, Any]:
        return {"landmark_id": self.config.landmark_id, "public_key": self._public_b64}


class LandmarkServer:
    """One landmark on one UDP socket, served by one thread (``start``/``stop``)."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        config: LandmarkConfig,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self._sock.setblocking(False)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.core = LandmarkCore(key=key, config=config, send=self._send)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()

    @property
    def address(self) -> Address:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def counters(self) -> Counters:
        return self.core.counters

    def _send(self, packet: bytes, addr: Address) -> None:
        try:  # noqa: SIM105 (hot path: a bare try is cheaper than suppress())
            self._sock.sendto(packet, addr)
        except (BlockingIOError, OSError):
            pass  # a full buffer or an unreachable peer is a lost packet, which the protocol tolerates

    def start(self) -> int:
        """Start serving on a background thread; return the bound port."""
        self._thread = threading.Thread(target=self.serve_forever, name="fleetproof-landmark", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> LandmarkServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Drain the socket (stamping each arrival), then do timers and batched signing."""
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        recv, clock, core = self._sock.recvfrom, time.monotonic_ns, self.core
        flush_every, tick_ns = self.core.config.flush_every, 5_000_000
        last_tick = clock()
        while not self._stop.is_set():
            wait_ms = 0 if core.pending_records else 5
            poller.poll(wait_ms)
            handled = 0
            while handled < flush_every:
                try:
                    data, addr = recv(2048)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue
                try:
                    core.handle(data, addr, clock())
                except Exception:  # one bad datagram must not stop the landmark
                    core.counters.internal_errors += 1
                    _log.exception("landmark %s: error handling a datagram", core.config.landmark_id)
                handled += 1
            if core.pending_records:
                core.flush()
            now = clock()
            if now - last_tick >= tick_ns:
                core.tick(now)
                last_tick = now
