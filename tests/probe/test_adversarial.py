"""Hostile peers on both sides of the probe protocol: landmarks that misbehave, spoofers, forged records.

Each test builds the attacker by hand on top of a real :class:`LandmarkCore` with a
clock the test controls, so nothing sleeps and no socket is opened.
"""

from __future__ import annotations

import base64
import json
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleetproof.cli import main
from fleetproof.probe import wire
from fleetproof.probe.keys import generate_key, public_key_b64, public_key_bytes
from fleetproof.probe.landmark import Address, LandmarkConfig, LandmarkCore
from fleetproof.probe.prober import ProbeChannel, Prober
from fleetproof.probe.records import (
    LandmarkEntry,
    MeasurementRecord,
    RecordError,
    sign_record,
    verify_record,
    write_landmark_directory,
    write_records,
)
from fleetproof.protocol.curve25519 import X25519PrivateKey

DEVICE = ("127.0.0.1", 5000)
VICTIM = ("192.0.2.7", 53)
RECV_LIMIT = 5_000  # a hostile channel gives up (and fails the test) after this many reads


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def make_core(**config: Any) -> tuple[LandmarkCore, list[tuple[bytes, Address]], Clock]:
    sent: list[tuple[bytes, Address]] = []
    clock = Clock()
    core = LandmarkCore(
        key=generate_key(),
        config=LandmarkConfig("lm", **config),
        send=lambda packet, addr: sent.append((packet, addr)),
        clock_ns=clock,
    )
    return core, sent, clock


def hello_packet(samples: int = 1) -> tuple[bytes, X25519PrivateKey, Any]:
    device = generate_key()
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes_raw()
    return wire.Hello(os.urandom(16), eph_pub, public_key_bytes(device), samples, "d").encode(), eph, device


# -- the landmark as a reflector --------------------------------------------------------------
def test_fetch_from_another_address_gets_no_record() -> None:
    """A spoofer must not make the landmark send a cached record (~40x a FETCH) to a victim."""
    core, sent, clock = make_core()
    hello, eph, device = hello_packet(samples=1)
    core.handle(hello, DEVICE, clock())
    accept = sent[-1][0]
    sid = wire.Accept.decode(accept).session_id
    key = wire.derive_session_key(eph, wire.Accept.decode(accept).ephemeral_public, hello, accept)
    core.handle(wire.confirm_packet(sid, device.sign(wire.confirm_message(hello, accept))), DEVICE, clock())
    clock.now += 1_000_000
    core.handle(wire.response_packet(key, sent[-1][0]), DEVICE, clock())
    core.flush()
    assert sent[-1][0][:4] == wire.H_RECORD
    before = len(sent)
    for _ in range(100):
        core.handle(wire.H_FETCH + sid, VICTIM, clock())
    assert [p for p, addr in sent[before:] if addr == VICTIM] == []
    core.handle(wire.H_FETCH + sid, DEVICE, clock())  # the device that ran the session still can
    assert sent[-1] == (sent[before - 1][0], DEVICE)


def test_repeated_hello_does_not_make_the_landmark_an_unlimited_reflector() -> None:
    """One admitted HELLO spoofed from a victim must not buy an ACCEPT for every copy of it."""
    core, sent, clock = make_core()
    hello, _eph, _device = hello_packet()
    for _ in range(1000):
        core.handle(hello, VICTIM, clock())
    accepts = [p for p, addr in sent if addr == VICTIM and p[:4] == wire.H_ACCEPT]
    assert core.counters.sessions_started == 1
    assert 1 < len(accepts) <= 1 + LandmarkCore.MAX_ACCEPT_REPEATS


# -- hostile landmarks seen from the prober ----------------------------------------------------
class HostileChannel:
    """A landmark that runs the handshake honestly (a real core) and then does what ``after`` says.

    ``after(sid)`` returns the next datagram the landmark sends once the device has
    confirmed (None: silence); before that the real core answers.
    """

    def __init__(
        self,
        core: LandmarkCore,
        outbox: deque[bytes],
        clock: Clock,
        after: Callable[[bytes], bytes | None] | None = None,
    ) -> None:
        self.core, self.outbox, self.clock, self.after = core, outbox, clock, after
        self.sid: bytes | None = None
        self.reads = 0

    def send(self, packet: bytes) -> None:
        if packet[:4] == wire.H_CONFIRM and self.after is not None:
            self.sid = packet[4:12]
            return
        self.core.handle(packet, DEVICE, self.clock())
        self.core.flush()

    def recv(self, timeout_s: float) -> bytes | None:
        self.reads += 1
        if self.reads > RECV_LIMIT:
            raise AssertionError("the prober keeps reading from a landmark that never finishes")
        if self.outbox:
            return self.outbox.popleft()
        if self.sid is not None and self.after is not None:
            return self.after(self.sid)
        self.clock.now += int(timeout_s * 1e9)
        self.core.tick(self.clock())
        return self.outbox.popleft() if self.outbox else None

    def close(self) -> None:
        pass


class HostileTransport:
    def __init__(self, factory: Callable[[], ProbeChannel]) -> None:
        self.factory = factory

    def open(self, landmark: LandmarkEntry) -> ProbeChannel:
        return self.factory()


def hostile_landmark(
    after: Callable[[bytes], bytes | None] | None = None,
) -> tuple[LandmarkEntry, HostileTransport, list[HostileChannel]]:
    key = generate_key()
    clock = Clock()
    outbox: deque[bytes] = deque()
    core = LandmarkCore(
        key=key,
        config=LandmarkConfig("lm"),
        send=lambda packet, addr: outbox.append(packet),
        clock_ns=clock,
    )
    channels: list[HostileChannel] = []

    def factory() -> ProbeChannel:
        channel = HostileChannel(core, outbox, clock, after)
        channels.append(channel)
        return channel

    entry = LandmarkEntry("lm", 0.0, 0.0, "10.0.0.1:7331", key.public_key())
    return entry, HostileTransport(factory), channels


def prober(transport: HostileTransport) -> Prober:
    return Prober(generate_key(), "d", transport, samples=3, timeout_s=0.5, retries=2, concurrency=1)


@pytest.mark.parametrize("short", [b"FP\x01\x08", wire.H_ERROR + bytes(7)])
def test_truncated_error_before_accept_is_unreachable_not_a_crash(short: bytes) -> None:
    class Refuser:
        def send(self, packet: bytes) -> None:
            pass

        def recv(self, timeout_s: float) -> bytes | None:
            return short

        def close(self) -> None:
            pass

    entry = LandmarkEntry("lm", 0.0, 0.0, "10.0.0.1:7331", generate_key().public_key())
    result = prober(HostileTransport(Refuser)).probe([entry])
    assert result.records == [] and [u.landmark_id for u in result.unreachable] == ["lm"]


def test_truncated_error_during_timed_phase_is_unreachable_not_a_crash() -> None:
    entry, transport, _ = hostile_landmark(after=lambda sid: wire.H_ERROR + sid)
    result = prober(transport).probe([entry])
    assert result.records == [] and [u.landmark_id for u in result.unreachable] == ["lm"]


def test_endless_nonces_do_not_keep_the_prober_answering_forever() -> None:
    entry, transport, channels = hostile_landmark(
        after=lambda sid: wire.nonce_packet(sid, 1, os.urandom(wire.NONCE_BYTES))
    )
    result = prober(transport).probe([entry])
    assert [u.landmark_id for u in result.unreachable] == ["lm"]
    assert channels[0].reads < RECV_LIMIT


def test_endless_garbage_does_not_keep_the_prober_waiting_forever() -> None:
    entry, transport, channels = hostile_landmark(after=lambda sid: b"FP\x01\x63garbage")
    result = prober(transport).probe([entry])
    assert [u.landmark_id for u in result.unreachable] == ["lm"]
    assert channels[0].reads < RECV_LIMIT


def test_signed_accept_with_a_low_order_point_is_unreachable_not_a_crash() -> None:
    """A landmark whose ACCEPT carries an all-zero X25519 key must not crash the whole probe run."""
    key = generate_key()

    class LowOrder:
        def __init__(self) -> None:
            self.reply: bytes | None = None

        def send(self, packet: bytes) -> None:
            if packet[:4] == wire.H_HELLO:
                draft = wire.Accept(bytes(8), bytes(32), bytes(16), "lm", b"")
                signature = key.sign(wire.accept_message(packet, draft.unsigned()))
                self.reply = draft.unsigned() + signature

        def recv(self, timeout_s: float) -> bytes | None:
            reply, self.reply = self.reply, None
            return reply

        def close(self) -> None:
            pass

    entry = LandmarkEntry("lm", 0.0, 0.0, "10.0.0.1:7331", key.public_key())
    result = prober(HostileTransport(LowOrder)).probe([entry])
    assert result.records == [] and [u.landmark_id for u in result.unreachable] == ["lm"]


def test_honest_hostile_harness_still_measures() -> None:
    entry, transport, _ = hostile_landmark()
    result = prober(transport).probe([entry])
    assert [r.landmark_id for r in result.records] == ["lm"]


# -- records ----------------------------------------------------------------------------------------
def signed(
    landmark: Any = None, device_id: str = "d", samples_ms: tuple[float, ...] = (4.0, 5.0)
) -> tuple[MeasurementRecord, Any]:
    """A record of landmark "lm" (a new key unless given) for a device with a new key of its own."""
    landmark = landmark or generate_key()
    record = sign_record(
        key=landmark,
        device_id=device_id,
        device_public_key=public_key_b64(generate_key()),
        landmark_id="lm",
        session_id="0123456789abcdef",
        samples_ms=list(samples_ms),
        lost=0,
        time=1.8e9,
    )
    return record, landmark


def test_non_canonical_base64_signature_is_refused() -> None:
    """The same 64 signature bytes spelt differently (unused padding bits set) are another record."""
    record, landmark = signed()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sig = record.signature
    respelt = sig[:-3] + alphabet[alphabet.index(sig[-3]) ^ 1] + sig[-2:]
    assert base64.b64decode(respelt) == base64.b64decode(sig)
    with pytest.raises(RecordError, match="base64"):
        verify_record(record.model_copy(update={"signature": respelt}), landmark.public_key())


@pytest.mark.parametrize("bad_time", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_time_is_refused_not_a_crash(
    bad_time: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    record, landmark = signed()
    body = json.loads(record.model_dump_json())
    line = json.dumps(body).replace(json.dumps(body["time"]), bad_time)
    with pytest.raises(ValueError):
        MeasurementRecord.model_validate_json(line)
    forged = record.model_construct(**{**record.model_dump(), "time": float(bad_time.lower())})
    with pytest.raises(RecordError):
        verify_record(forged, landmark.public_key())
    (tmp_path / "r.jsonl").write_text(line + "\n")
    write_landmark_directory(
        tmp_path / "d.csv", [LandmarkEntry("lm", 1, 2, "127.0.0.1:1", landmark.public_key())]
    )
    monkeypatch.setattr("fleetproof.cli.COMMAND_MODULES", ("fleetproof.probe.cli",))
    status = main(["records", "verify", str(tmp_path / "r.jsonl"), "--landmarks", str(tmp_path / "d.csv")])
    assert status != 0
    assert "time" in capsys.readouterr().err


def test_to_rtts_refuses_a_device_id_measured_under_two_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """The device id in a record is whatever the device said; only the key is the landmark's word.

    A host near the landmark that probes under another device's id gets a record with
    that id and its own key: mixed into another device's records it would lower that
    device's minimum RTT, so the commands refuse a device id that comes with two keys.
    """
    honest, landmark = signed(device_id="victim", samples_ms=(40.0,))
    impostor, _ = signed(landmark, device_id="victim", samples_ms=(1.0,))
    write_records(tmp_path / "victim.jsonl", [honest])
    write_records(tmp_path / "near.jsonl", [impostor])
    write_landmark_directory(
        tmp_path / "d.csv", [LandmarkEntry("lm", 1, 2, "127.0.0.1:1", landmark.public_key())]
    )
    monkeypatch.setattr("fleetproof.cli.COMMAND_MODULES", ("fleetproof.probe.cli",))
    out = tmp_path / "rtts.csv"
    status = main(
        ["records", "to-rtts", str(tmp_path / "victim.jsonl"), str(tmp_path / "near.jsonl"),
         "--landmarks", str(tmp_path / "d.csv"), "--out", str(out)]
    )  # fmt: skip
    assert status == 1 and not out.exists()
    assert "another device key" in capsys.readouterr().err


def test_icmp_error_on_the_udp_socket_is_silence_not_a_crash(monkeypatch: Any) -> None:
    """A connected UDP socket reports ICMP host/net unreachable as an OSError on the next recv."""
    import errno
    import socket as socket_module

    from fleetproof.probe.prober import UdpTransport

    class Unreachable(socket_module.socket):
        def recv(self, bufsize: int, flags: int = 0) -> bytes:
            raise OSError(errno.EHOSTUNREACH, "No route to host")

    monkeypatch.setattr("fleetproof.probe.prober.socket.socket", Unreachable)
    entry = LandmarkEntry("lm", 0.0, 0.0, "127.0.0.1:9", generate_key().public_key())
    result = Prober(generate_key(), "d", UdpTransport(), samples=1, timeout_s=0.01, retries=0).probe([entry])
    assert result.records == [] and [u.landmark_id for u in result.unreachable] == ["lm"]


def test_fetch_for_an_unknown_session_is_answered_no_larger_than_it_came() -> None:
    """Any address may ask about any session id, so the refusal must not be a reflector either."""
    core, sent, clock = make_core()
    request = wire.H_FETCH + os.urandom(8)
    core.handle(request, VICTIM, clock())
    ((reply, addr),) = sent
    assert addr == VICTIM and reply[:4] == wire.H_ERROR
    assert len(reply) <= len(request) + 1


# -- public-key work a spoofer can buy -----------------------------------------------------------
P25519 = 2**255 - 19
LOW_ORDER_U = (
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    P25519 - 1,
)


def low_order_encodings() -> list[bytes]:
    values = [u + k * P25519 for u in LOW_ORDER_U for k in (0, 1) if u + k * P25519 < 2**255]
    return [(v | high).to_bytes(32, "little") for v in values for high in (0, 1 << 255)]


class CountingKey:
    """A landmark key that counts its signatures."""

    def __init__(self) -> None:
        self.inner = generate_key()
        self.signatures = 0

    def sign(self, data: bytes) -> bytes:
        self.signatures += 1
        return self.inner.sign(data)

    def public_bytes_raw(self) -> bytes:
        return self.inner.public_key().public_bytes_raw()


@pytest.mark.parametrize("point", low_order_encodings(), ids=lambda p: p.hex()[:8] + "…" + p.hex()[-4:])
def test_hello_with_a_low_order_key_costs_no_signature(point: bytes) -> None:
    """Such a HELLO never becomes a session, so the global session cap would not bound its cost."""
    from fleetproof.protocol.curve25519 import X25519PublicKey

    with pytest.raises(ValueError):  # the list above is what X25519 itself refuses
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(point))
    key = CountingKey()
    core = LandmarkCore(key=key, config=LandmarkConfig("lm"), send=lambda p, a: None)  # type: ignore[arg-type]
    hello = wire.Hello(os.urandom(16), point, public_key_bytes(generate_key()), 1, "d").encode()
    core.handle(hello, VICTIM, 0)
    assert key.signatures == 0
    assert core.counters.malformed == 1 and core.counters.sessions_started == 0


def test_nvattest_report_over_another_nonce_is_refused() -> None:
    """The docstring promises it: a device claim carrying ``eat_nonce`` must carry ours."""
    from fleetproof.probe.attest import AttestationError
    from fleetproof.probe.attest.nvidia import check_claims

    document = {
        "result_code": 0,
        "claims": [{"x-nvidia-device-type": "gpu", "measres": "success", "eat_nonce": "00" * 32}],
    }
    with pytest.raises(AttestationError, match="nonce"):
        check_claims(document, "ab" * 32)
    document["claims"][0]["eat_nonce"] = ("ab" * 32).upper()  # type: ignore[index]
    assert check_claims(document, "ab" * 32)


# -- what hostile peers can put on an operator's terminal --------------------------------------------
ESCAPES = "\x1b[2K\r\x1b]0;owned\x07\u202e"


def test_landmark_error_text_cannot_drive_the_operators_terminal() -> None:
    class Refuser:
        def send(self, packet: bytes) -> None:
            pass

        def recv(self, timeout_s: float) -> bytes | None:
            return wire.error_packet(bytes(8), wire.ERR_BUSY, "busy" + ESCAPES)

        def close(self) -> None:
            pass

    entry = LandmarkEntry("lm", 0.0, 0.0, "10.0.0.1:7331", generate_key().public_key())
    (gone,) = prober(HostileTransport(Refuser)).probe([entry]).unreachable
    assert "busy" in gone.reason and gone.reason.isprintable()


def test_device_chosen_id_cannot_drive_the_operators_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """The device id is whatever the device sent in its HELLO; the landmark signs it as is."""
    record, landmark = signed(device_id="d" + ESCAPES, samples_ms=(4.0,))
    tampered = record.model_copy(update={"lost": 1})
    write_records(tmp_path / "r.jsonl", [tampered])
    write_landmark_directory(
        tmp_path / "d.csv", [LandmarkEntry("lm", 1, 2, "127.0.0.1:1", landmark.public_key())]
    )
    monkeypatch.setattr("fleetproof.cli.COMMAND_MODULES", ("fleetproof.probe.cli",))
    assert main(["records", "verify", str(tmp_path / "r.jsonl"), "--landmarks", str(tmp_path / "d.csv")]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and all(line.isprintable() for line in out.splitlines())


def test_making_room_in_the_source_table_does_not_rescan_busy_sources() -> None:
    """Sources with open sessions at the old end of the table were walked past on every new source.

    With 8000 such sources (one session each, well under the global cap) in front of a
    full table, each HELLO from a new address cost about half a millisecond of scanning.
    """
    from collections import OrderedDict

    class Counting(OrderedDict[str, Any]):
        scanned = 0

        def items(self) -> Any:
            for item in super().items():
                Counting.scanned += 1
                yield item

    busy, idle, newcomers = 300, 300, 200
    core, _sent, clock = make_core(max_sources=busy + idle, max_sessions=10 * busy)
    core._sources = Counting()
    for i in range(busy):
        core.handle(hello_packet()[0], (f"10.0.{i // 256}.{i % 256}", 1), clock())
    for i in range(idle):
        core.handle(hello_packet()[0], (f"10.1.{i // 256}.{i % 256}", 1), clock())
    for session in list(core._sessions.values()):  # the second group's handshakes have ended
        if session.addr[0].startswith("10.1."):
            core._close(session)
    Counting.scanned = 0
    for i in range(newcomers):
        core.handle(hello_packet()[0], (f"10.2.{i // 256}.{i % 256}", 1), clock())
    assert core.counters.sessions_started == busy + idle + newcomers
    assert Counting.scanned < 3 * (busy + newcomers)
