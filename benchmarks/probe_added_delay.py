"""Added delay: the protocol's minimum RTT minus a plain UDP echo's, on the same loopback path.

Two processes, as in real use: the *landmark side* (a :class:`LandmarkServer`,
plus a plain echo *timer* built like the landmark's loop — poll, non-blocking
``recvfrom``, monotonic nanosecond stamps) and the *device side* (the real
:class:`Prober` over UDP, plus a plain echo *responder*). Each round runs one
plain echo session and one probe session of k samples each, back to back, and
takes the difference of their minima; rounds interleave so that machine noise
hits both alike. The added delay is what the protocol's fast path (the
device's parse + keyed BLAKE2s, the landmark's constant-time compare) costs
over bouncing a datagram. Run::

    PYTHONPATH=src python benchmarks/probe_added_delay.py [--rounds 300] [--samples 10]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import select
import socket
import statistics
import threading
import time
from multiprocessing.connection import Connection

from fleetproof.probe.keys import generate_key
from fleetproof.probe.landmark import LandmarkConfig, LandmarkServer
from fleetproof.probe.prober import Prober, UdpTransport
from fleetproof.probe.records import LandmarkEntry


def echo_min_ns(sock: socket.socket, poller: select.poll, target: tuple[str, int], k: int) -> int:
    """k pings timed exactly as the landmark times a nonce: stamp, sendto, poll, recvfrom, stamp."""
    best = 1 << 62
    payload = b"x" * 30  # the size of a NONCE packet
    for _ in range(k):
        sent = time.monotonic_ns()
        sock.sendto(payload, target)
        while True:
            poller.poll(1000)
            try:
                sock.recvfrom(2048)
            except BlockingIOError:
                continue
            best = min(best, time.monotonic_ns() - sent)
            break
    return best


def landmark_side(conn: Connection) -> None:
    key = generate_key()
    server = LandmarkServer(key, LandmarkConfig("bench"))
    server.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    conn.send((server.port, key.public_key().public_bytes_raw()))
    while (msg := conn.recv()) is not None:
        port, k = msg
        conn.send(echo_min_ns(sock, poller, ("127.0.0.1", port), k))
    server.stop()


def echo_responder(sock: socket.socket) -> None:
    while True:
        try:
            data, addr = sock.recvfrom(2048)
        except OSError:
            return
        sock.sendto(data, addr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()

    from fleetproof.protocol.curve25519 import Ed25519PublicKey

    parent, child = mp.Pipe()
    proc = mp.Process(target=landmark_side, args=(child,), daemon=True)
    proc.start()
    port, raw_key = parent.recv()
    entry = LandmarkEntry("bench", 0, 0, f"127.0.0.1:{port}", Ed25519PublicKey.from_public_bytes(raw_key))
    responder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    responder.bind(("127.0.0.1", 0))
    threading.Thread(target=echo_responder, args=(responder,), daemon=True).start()
    prober = Prober(generate_key(), "bench-device", UdpTransport(), samples=args.samples, concurrency=1)

    echo_ms, proto_ms, added_ms = [], [], []
    for _ in range(args.rounds):
        parent.send((responder.getsockname()[1], args.samples))
        echo = parent.recv() / 1e6
        record = prober.probe_one(entry)
        echo_ms.append(echo)
        proto_ms.append(record.rtt_ms)
        added_ms.append(record.rtt_ms - echo)
    parent.send(None)
    proc.join(timeout=5)
    responder.close()

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if q < 100 else max(values)

    print(f"rounds: {args.rounds}, k = {args.samples} samples per session")
    print(f"plain UDP echo min RTT:   p50 {statistics.median(echo_ms):.4f} ms")
    print(f"protocol min RTT:         p50 {statistics.median(proto_ms):.4f} ms")
    print(
        f"added delay:              p50 {statistics.median(added_ms):.4f} ms, p99 {pct(added_ms, 99):.4f} ms"
    )
    print(f"target p50 <= 0.15 ms: {'met' if statistics.median(added_ms) <= 0.15 else 'NOT met'}")


if __name__ == "__main__":
    main()
