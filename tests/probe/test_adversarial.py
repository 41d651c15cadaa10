"""Hostile peers on both sides of the probe protocol: landmarks that misbehave, spoofers, forged records.

Each test builds the attacker by hand on top of a real :class:`LandmarkCore` with a
clock the test controls, so nothing sleeps and no socket is opened.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fleetproof.probe import wire
from fleetproof.probe.keys import generate_key, public_key_bytes
from fleetproof.probe.landmark import Address, LandmarkConfig, LandmarkCore

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
    eph_pub = eph.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
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
