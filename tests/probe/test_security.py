"""One test per attack the protocol must resist (and a few neighbours).

An attacker here is a hand-written device speaking the wire protocol to a
landmark core directly, with a clock the test controls, so every timing claim
is exact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fleetproof.cli import main
from fleetproof.probe import wire
from fleetproof.probe.keys import generate_key, public_key_b64, public_key_bytes
from fleetproof.probe.landmark import LandmarkConfig, LandmarkCore
from fleetproof.probe.netem import DelayModel, RelayNetwork
from fleetproof.probe.prober import Prober, UdpTransport
from fleetproof.probe.records import (
    LandmarkEntry,
    MeasurementRecord,
    RecordError,
    sign_record,
    verify_record,
    write_landmark_directory,
    write_records,
)
from fleetproof.protocol.curve25519 import Ed25519PrivateKey, X25519PrivateKey

PEER = ("127.0.0.1", 4242)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


class Attacker:
    """A device that runs the handshake by hand and then does as the test says."""

    def __init__(
        self, claimed: Ed25519PrivateKey, signer: Ed25519PrivateKey | None = None, samples: int = 3
    ) -> None:
        self.clock = Clock()
        self.sent: list[bytes] = []
        self.landmark_key = generate_key()
        self.core = LandmarkCore(
            key=self.landmark_key,
            config=LandmarkConfig("lm", nonce_timeout_s=1.0),
            send=lambda packet, addr: self.sent.append(packet),
            clock_ns=self.clock,
        )
        eph = X25519PrivateKey.generate()
        eph_pub = eph.public_key().public_bytes_raw()
        self.hello = wire.Hello(
            os.urandom(16), eph_pub, public_key_bytes(claimed), samples, "victim"
        ).encode()
        self.core.handle(self.hello, PEER, self.clock())
        self.accept = self.sent[-1]
        self.sid = wire.Accept.decode(self.accept).session_id
        self.key = wire.derive_session_key(
            eph, wire.Accept.decode(self.accept).ephemeral_public, self.hello, self.accept
        )
        self.signer = signer or claimed

    def confirm(self, signature: bytes | None = None) -> None:
        sig = (
            signature
            if signature is not None
            else self.signer.sign(wire.confirm_message(self.hello, self.accept))
        )
        self.core.handle(wire.confirm_packet(self.sid, sig), PEER, self.clock())

    def last_nonce(self) -> bytes:
        return next(p for p in reversed(self.sent) if p[:4] == wire.H_NONCE)

    def answer(self, nonce_pkt: bytes, after_ns: int) -> bytes:
        self.clock.now += after_ns
        reply = wire.response_packet(self.key, nonce_pkt)
        self.core.handle(reply, PEER, self.clock())
        return reply

    def records(self) -> list[MeasurementRecord]:
        self.core.flush()
        return [MeasurementRecord.model_validate_json(p[12:]) for p in self.sent if p[:4] == wire.H_RECORD]


# 1. forged signature ----------------------------------------------------------------------
def test_forged_confirm_signature_is_refused() -> None:
    attacker = Attacker(generate_key())
    attacker.confirm(signature=os.urandom(64))
    assert attacker.core.counters.forged == 1
    assert not any(p[:4] == wire.H_NONCE for p in attacker.sent)
    assert attacker.sent[-1][:4] == wire.H_ERROR
    assert attacker.core.open_sessions == 0


def test_forged_landmark_signature_on_accept_makes_landmark_unreachable(udp_landmarks: Any) -> None:
    (_server, entry), (_, other) = udp_landmarks(2)
    impostor = LandmarkEntry(entry.id, 0, 0, entry.address, other.public_key)  # directory key ≠ server key
    result = Prober(generate_key(), "d", UdpTransport(), samples=2, timeout_s=0.3, retries=0).probe(
        [impostor]
    )
    assert result.records == []
    assert "not signed by the landmark" in result.unreachable[0].reason


# 2. wrong device key -----------------------------------------------------------------------
def test_device_claiming_another_devices_key_gets_no_record() -> None:
    victim, thief = generate_key(), generate_key()
    attacker = Attacker(claimed=victim, signer=thief)
    attacker.confirm()
    assert attacker.core.counters.forged == 1
    assert attacker.records() == []


def test_record_names_the_key_that_answered() -> None:
    device = generate_key()
    attacker = Attacker(device, samples=1)
    attacker.confirm()
    attacker.answer(attacker.last_nonce(), 1000)
    (record,) = attacker.records()
    assert record.device_public_key == public_key_b64(device)
    assert record.device_public_key != public_key_b64(generate_key())  # the server's enrolment check


# 3. replayed nonce ---------------------------------------------------------------------------
def test_replayed_reply_is_counted_and_not_a_sample() -> None:
    attacker = Attacker(generate_key())
    attacker.confirm()
    first = attacker.last_nonce()
    reply = attacker.answer(first, 2_000_000)
    attacker.clock.now += 10
    attacker.core.handle(reply, PEER, attacker.clock())  # the same reply again, fast
    assert attacker.core.counters.replayed == 1
    assert attacker.core.counters.responses_ok == 1


def test_reply_replayed_into_another_session_is_forged() -> None:
    attacker = Attacker(generate_key())
    attacker.confirm()
    nonce_pkt = attacker.last_nonce()
    reply = wire.response_packet(attacker.key, nonce_pkt)
    other = Attacker(generate_key())
    other.confirm()
    other.core.handle(wire.H_RESPONSE + other.sid + reply[12:], PEER, other.clock())
    assert other.core.counters.forged == 1


def test_reply_after_timeout_is_late_and_not_a_sample() -> None:
    attacker = Attacker(generate_key())
    attacker.confirm()
    stale = attacker.last_nonce()
    attacker.clock.now += 1_500_000_000
    attacker.core.tick(attacker.clock())  # nonce 1 times out, nonce 2 goes out
    attacker.answer(stale, 0)
    assert attacker.core.counters.late == 1
    assert attacker.core.counters.responses_ok == 0


# 4. reply sent before the challenge arrives ---------------------------------------------------
def test_reply_before_challenge_cannot_be_valid() -> None:
    attacker = Attacker(generate_key(), samples=2)
    attacker.confirm()
    attacker.answer(attacker.last_nonce(), 5_000_000)
    # guess the next nonce's reply before the landmark sends it: no key can make it valid
    guessed = wire.nonce_packet(attacker.sid, 3, os.urandom(16))
    attacker.core.handle(wire.response_packet(attacker.key, guessed), PEER, attacker.clock())
    early = wire.H_RESPONSE + attacker.sid + (2).to_bytes(2, "big") + os.urandom(16)
    attacker.core.handle(early, PEER, attacker.clock())
    assert attacker.core.counters.forged == 2
    attacker.answer(attacker.last_nonce(), 5_000_000)
    (record,) = attacker.records()
    assert record.samples_ms == [5.0, 5.0]  # the RTT is timed from each nonce's own send


# 5. a relay through a delaying hop only adds delay -------------------------------------------
def test_relay_through_a_delaying_hop_only_grows_the_rtt(udp_landmarks: Any) -> None:
    ((_server, entry),) = udp_landmarks(1)
    device = generate_key()
    direct = Prober(device, "d", UdpTransport(), samples=5, concurrency=1).probe([entry]).records[0]
    with RelayNetwork(DelayModel(time_scale=1.0)) as relays:
        port = relays.add_relay(("127.0.0.1", entry.port), one_way_ms=4.0)
        relayed_entry = LandmarkEntry(entry.id, entry.lat, entry.lon, f"127.0.0.1:{port}", entry.public_key)
        relayed = (
            Prober(device, "d", UdpTransport(), samples=5, concurrency=1).probe([relayed_entry]).records[0]
        )
    assert min(relayed.samples_ms) >= 8.0  # two legs of 4 ms, never less
    assert relayed.rtt_ms > direct.rtt_ms + 7.9
    verify_record(relayed, entry.public_key)


# 6. tampered record ----------------------------------------------------------------------------
def test_tampered_record_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    landmark = generate_key()
    record = sign_record(
        key=landmark,
        device_id="d",
        device_public_key=public_key_b64(generate_key()),
        landmark_id="lm",
        session_id="0123456789abcdef",
        samples_ms=[40.0, 41.0],
        lost=0,
        time=1.8e9,
    )
    nearer = record.model_copy(update={"rtt_ms": 4.0, "samples_ms": [4.0, 41.0]})
    with pytest.raises(RecordError, match="signature does not verify"):
        verify_record(nearer, landmark.public_key())
    write_landmark_directory(
        tmp_path / "d.csv", [LandmarkEntry("lm", 1, 2, "127.0.0.1:1", landmark.public_key())]
    )
    write_records(tmp_path / "r.jsonl", [record, nearer])
    monkeypatch.setattr("fleetproof.cli.COMMAND_MODULES", ("fleetproof.probe.cli",))
    assert main(["records", "verify", str(tmp_path / "r.jsonl"), "--landmarks", str(tmp_path / "d.csv")]) == 1
    out = capsys.readouterr().out
    assert "record 2" in out and "signature does not verify" in out and "1 records verified, 1 failed" in out


# 7. record signed by an unknown landmark --------------------------------------------------------
def test_record_from_unknown_landmark_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    known, rogue = generate_key(), generate_key()
    fields: dict[str, Any] = dict(
        device_id="d",
        device_public_key=public_key_b64(generate_key()),
        session_id="0123456789abcdef",
        samples_ms=[1.0],
        lost=0,
        time=1.8e9,
    )
    unknown_id = sign_record(key=rogue, landmark_id="rogue", **fields)
    known_id_wrong_key = sign_record(key=rogue, landmark_id="lm", **fields)
    with pytest.raises(RecordError):
        verify_record(known_id_wrong_key, known.public_key())
    write_landmark_directory(
        tmp_path / "d.csv", [LandmarkEntry("lm", 1, 2, "127.0.0.1:1", known.public_key())]
    )
    write_records(tmp_path / "r.jsonl", [unknown_id, known_id_wrong_key])
    monkeypatch.setattr("fleetproof.cli.COMMAND_MODULES", ("fleetproof.probe.cli",))
    assert main(["records", "verify", str(tmp_path / "r.jsonl"), "--landmarks", str(tmp_path / "d.csv")]) == 1
    out = capsys.readouterr().out
    assert "unknown landmark 'rogue'" in out
    assert "0 records verified, 2 failed" in out


def test_replay_after_the_session_ended_is_counted_as_replayed() -> None:
    attacker = Attacker(generate_key(), samples=1)
    attacker.confirm()
    reply = attacker.answer(attacker.last_nonce(), 1_000)
    assert len(attacker.records()) == 1
    attacker.core.handle(reply, PEER, attacker.clock())
    assert attacker.core.counters.replayed == 1


def test_garbage_reply_for_an_answered_sequence_number_is_forged_not_replayed() -> None:
    attacker = Attacker(generate_key())
    attacker.confirm()
    reply = attacker.answer(attacker.last_nonce(), 1_000)
    attacker.core.handle(reply[:14] + bytes(16), PEER, attacker.clock())
    assert (attacker.core.counters.forged, attacker.core.counters.replayed) == (1, 0)
