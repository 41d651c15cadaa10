"""The landmark state machine on an in-memory network: timing, losses, limits, counters."""

from __future__ import annotations

from typing import Any

import pytest

from fleetproof.probe import wire
from fleetproof.probe.keys import generate_key
from fleetproof.probe.landmark import Counters, LandmarkConfig, LandmarkCore
from fleetproof.probe.prober import Prober
from fleetproof.probe.records import verify_record


def prober(world: Any, samples: int = 5, **kw: Any) -> Prober:
    return Prober(generate_key(), "host-1", world.net, samples=samples, concurrency=1, **kw)


def test_rtt_is_exactly_the_emulated_round_trip(world: Any) -> None:
    world.add("lon", one_way_ms=2.5)
    world.add("nyc", one_way_ms=40.0)
    result = prober(world).probe(world.entries.values())
    assert result.unreachable == []
    by_id = {r.landmark_id: r for r in result.records}
    assert by_id["lon"].samples_ms == [5.0] * 5
    assert by_id["nyc"].rtt_ms == 80.0
    for record in result.records:
        verify_record(record, world.entries[record.landmark_id].public_key)
    counters = world.cores["lon"].counters
    assert (counters.sessions_completed, counters.responses_ok, counters.records_signed) == (1, 5, 1)
    assert world.cores["lon"].open_sessions == 0


def test_lost_nonces_are_replaced_by_fresh_ones(world: Any) -> None:
    world.add("lon", one_way_ms=1.0)
    dropped = {"n": 0}

    def drop_two_responses(address: str, packet: bytes) -> bool:
        if packet[:4] == wire.H_RESPONSE and dropped["n"] < 2:
            dropped["n"] += 1
            return True
        return False

    world.net.dropped = drop_two_responses
    record = prober(world, samples=3).probe(world.entries.values()).records[0]
    assert record.samples_ms == [2.0, 2.0, 2.0]
    assert record.lost == 2
    assert world.cores["lon"].counters.nonces_lost == 2


def test_lost_record_is_fetched_again(world: Any) -> None:
    core = world.add("lon", one_way_ms=1.0)
    sent = {"records": 0}
    original = world.net._route

    def lose_first_record(packet: bytes, addr: Any) -> None:
        if packet[:4] == wire.H_RECORD and sent["records"] == 0:
            sent["records"] += 1
            return
        original(packet, addr)

    core.send = lose_first_record
    result = prober(world, samples=2).probe(world.entries.values())
    assert len(result.records) == 1
    assert core.counters.records_resent == 1


def test_silent_landmark_is_unreachable_not_fatal(world: Any) -> None:
    world.add("lon")
    world.add("dead")
    world.net.dropped = lambda address, packet: address == world.entries["dead"].address
    result = prober(world, retries=1).probe(world.entries.values())
    assert [r.landmark_id for r in result.records] == ["lon"]
    assert [u.landmark_id for u in result.unreachable] == ["dead"]
    assert "no answer" in result.unreachable[0].reason


def test_handshake_expires_and_frees_the_session(world: Any) -> None:
    core = world.add("lon", handshake_timeout_s=2.0)
    world.net.dropped = lambda address, packet: packet[:4] == wire.H_CONFIRM
    result = prober(world, retries=1, timeout_s=1.5).probe(world.entries.values())
    assert result.records == []
    assert core.open_sessions == 0
    assert core.counters.sessions_expired >= 1


def make_core(**config: Any) -> tuple[LandmarkCore, list[tuple[bytes, Any]]]:
    sent: list[tuple[bytes, Any]] = []
    core = LandmarkCore(
        key=generate_key(),
        config=LandmarkConfig("lm", **config),
        send=lambda p, a: sent.append((p, a)),
        clock_ns=lambda: 0,
    )
    return core, sent


def hello(device_id: str = "d") -> bytes:
    from fleetproof.protocol.curve25519 import X25519PrivateKey

    eph = X25519PrivateKey.generate().public_key().public_bytes_raw()
    from fleetproof.probe.keys import public_key_bytes

    return wire.Hello(bytes(16), eph, public_key_bytes(generate_key()), 3, device_id).encode()


def test_per_source_rate_limit() -> None:
    core, _sent = make_core(session_burst=3, sessions_per_source_per_s=1.0)
    for i in range(5):
        core.handle(hello(f"d{i}"), ("127.0.0.1", 1000 + i), 0)
    assert core.counters.sessions_started == 3
    assert core.counters.rate_limited == 2
    core.handle(hello("other"), ("127.0.0.2", 1000), 0)  # another source is not affected
    assert core.counters.sessions_started == 4


def test_global_session_cap_bounds_memory() -> None:
    core, _sent = make_core(max_sessions=10, max_sources=4)
    for i in range(50):
        core.handle(hello(f"d{i}"), (f"127.0.{i}.1", 1000), 0)
    assert core.open_sessions == 10
    assert core.counters.busy == 40
    assert len(core._sources) <= 4


def test_repeated_hello_gets_the_same_accept() -> None:
    core, sent = make_core()
    packet = hello()
    core.handle(packet, ("127.0.0.1", 5), 0)
    core.handle(packet, ("127.0.0.1", 5), 0)
    assert core.counters.sessions_started == 1
    assert sent[0][0] == sent[1][0]


@pytest.mark.parametrize(
    "packet", [b"", b"FP", b"XX\x01\x05" + bytes(26), wire.H_HELLO + bytes(10), b"FP\x02\x01"]
)
def test_garbage_is_counted_as_malformed(packet: bytes) -> None:
    core, sent = make_core()
    core.handle(packet, ("127.0.0.1", 5), 0)
    assert core.counters.malformed == 1
    assert sent == []


def test_counters_cover_every_field() -> None:
    assert set(Counters().as_dict()) >= {"rejected", "replayed", "late", "forged", "rate_limited"}


def test_prober_waits_a_random_jitter_before_each_landmark(world: Any) -> None:
    import random

    world.add("a")
    world.add("b")
    waits: list[float] = []
    p = Prober(
        generate_key(),
        "h",
        world.net,
        samples=1,
        concurrency=1,
        jitter_s=0.5,
        rng=random.Random(7),
        sleep=waits.append,
    )
    assert len(p.probe(world.entries.values()).records) == 2
    assert len(waits) == 2 and all(0 <= w <= 0.5 for w in waits) and waits[0] != waits[1]


def test_deadline_heap_stays_bounded(world: Any) -> None:
    core = world.add("lon", one_way_ms=0.5)
    p = prober(world, samples=64)
    for _ in range(40):
        assert len(p.probe(world.entries.values()).records) == 1
    assert len(core._deadlines) >= 40 * 64  # one entry per nonce until a tick compacts them
    core.tick(world.net.clock())
    assert len(core._deadlines) <= 1024
    assert core.open_sessions == 0


def test_short_device_timeout_still_waits_for_the_landmarks_replacement_nonce(world: Any) -> None:
    world.add("lon", one_way_ms=1.0, nonce_timeout_s=1.0)
    dropped = {"n": 0}

    def drop_first_response(address: str, packet: bytes) -> bool:
        if packet[:4] == wire.H_RESPONSE and not dropped["n"]:
            dropped["n"] = 1
            return True
        return False

    world.net.dropped = drop_first_response
    result = prober(world, samples=2, timeout_s=0.1).probe(world.entries.values())
    assert result.unreachable == []
    assert result.records[0].lost == 1
