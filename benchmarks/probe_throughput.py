"""Challenge–responses per second that one landmark process sustains, all checks on.

One landmark runs in its own process with its normal checks (source rate limits,
session caps, a CONFIRM signature check per session, a constant-time MAC check
per reply, a signed record per session). A load process drives it through
``--sockets`` UDP sockets spread over four loopback source addresses
(127.0.0.2-5, so per-source limits stay at their defaults), each socket running
one full session after another: HELLO → ACCEPT → CONFIRM → k nonces → RECORD.
The load process skips checking the landmark's signatures (it is a load
generator, not a verifier); the landmark skips nothing.

The figure is the landmark's own ``responses_ok`` counter divided by the
measuring window; a baseline in the same run is a bare UDP echo loop (same
socket loop, no protocol) driven by the same load process, so the ratio says
what the protocol costs. Run::

    PYTHONPATH=src python benchmarks/probe_throughput.py [--seconds 5] [--samples 10] [--sockets 64]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import select
import socket
import time
from multiprocessing.connection import Connection

from fleetproof.probe import wire
from fleetproof.probe.keys import generate_key, public_key_bytes
from fleetproof.probe.landmark import LandmarkConfig, LandmarkServer
from fleetproof.protocol.curve25519 import X25519PrivateKey

SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


def landmark_process(conn: Connection, mode: str) -> None:
    if mode == "protocol":
        server = LandmarkServer(generate_key(), LandmarkConfig("bench"))
        server.start()
        conn.send(server.port)
        conn.recv()  # start of the window
        before, cpu_before = server.counters.responses_ok, time.process_time()
        conn.recv()  # end of the window
        cpu_s = time.process_time() - cpu_before
        conn.send(
            (server.counters.responses_ok - before, {**server.counters.as_dict(), "cpu_us": int(cpu_s * 1e6)})
        )
        server.stop()
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    conn.send(sock.getsockname()[1])
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    echoed = 0
    counting = False
    cpu_before = 0.0
    while True:
        if conn.poll():
            conn.recv()
            if counting:
                conn.send((echoed, {"cpu_us": int((time.process_time() - cpu_before) * 1e6)}))
                return
            counting, echoed, cpu_before = True, 0, time.process_time()
        poller.poll(5)
        while True:
            try:
                data, addr = sock.recvfrom(2048)
            except BlockingIOError:
                break
            time.monotonic_ns()
            sock.sendto(data, addr)
            echoed += 1


class Slot:
    """One load socket running sessions back to back."""

    def __init__(self, sock: socket.socket, target: tuple[str, int], samples: int) -> None:
        self.sock, self.target, self.samples = sock, target, samples
        self.device = generate_key()
        self.device_public = public_key_bytes(self.device)
        self.key = b""
        self.hello = b""
        # one X25519 half per load socket (the landmark still sees a fresh HELLO and derives a fresh key)
        self.eph = X25519PrivateKey.generate()
        self.eph_pub = self.eph.public_key().public_bytes_raw()

    def start(self) -> None:
        self.hello = wire.Hello(
            os.urandom(16), self.eph_pub, self.device_public, self.samples, "load"
        ).encode()
        self.sock.sendto(self.hello, self.target)

    def on_packet(self, packet: bytes) -> None:
        if packet[:4] == wire.H_NONCE:
            self.sock.sendto(wire.response_packet(self.key, packet), self.target)
        elif packet[:4] == wire.H_ACCEPT:
            accept = wire.Accept.decode(packet)
            self.key = wire.derive_session_key(self.eph, accept.ephemeral_public, self.hello, packet)
            signature = self.device.sign(wire.confirm_message(self.hello, packet))
            self.sock.sendto(wire.confirm_packet(accept.session_id, signature), self.target)
        else:  # RECORD or ERROR: next session
            self.start()


def drive(target: tuple[str, int], mode: str, seconds: float, samples: int, n_sockets: int) -> None:
    """Keep every socket busy for ``seconds``."""
    poller = select.poll()
    slots: dict[int, Slot] = {}
    socks: dict[int, socket.socket] = {}
    for i in range(n_sockets):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((SOURCES[i % len(SOURCES)], 0))
        sock.setblocking(False)
        socks[sock.fileno()] = sock
        poller.register(sock.fileno(), select.POLLIN)
        if mode == "protocol":
            slots[sock.fileno()] = Slot(sock, target, samples)
    end = time.monotonic() + seconds
    last_activity = 0.0
    while (now := time.monotonic()) < end:
        events = poller.poll(50)
        if events:
            last_activity = now
        elif now - last_activity > 1.5:  # start, or a lost packet stalled every slot: (re)start them
            for fd, sock in socks.items():
                if mode == "protocol":
                    slots[fd].start()
                else:
                    sock.sendto(b"x" * wire.NONCE_LEN, target)
            last_activity = now
        for fd, _ in events:
            sock = socks[fd]
            while True:
                try:
                    packet = sock.recv(4096)
                except BlockingIOError:
                    break
                if mode == "protocol":
                    slots[fd].on_packet(packet)
                else:
                    sock.sendto(packet, target)


def measure(
    mode: str, seconds: float, samples: int, n_sockets: int, n_load: int
) -> tuple[float, dict[str, int]]:
    parent, child = mp.Pipe()
    proc = mp.Process(target=landmark_process, args=(child, mode), daemon=True)
    proc.start()
    target = ("127.0.0.1", parent.recv())
    warm_s = 0.5
    loads = [
        mp.Process(target=drive, args=(target, mode, warm_s + seconds + 0.2, samples, n_sockets // n_load))
        for _ in range(n_load)
    ]
    for load in loads:
        load.start()
    time.sleep(warm_s)
    parent.send("start")
    time.sleep(seconds)
    parent.send("stop")
    count, counters = parent.recv()
    for load in loads:
        load.join(timeout=10)
    proc.join(timeout=5)
    return count / seconds, counters


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--sockets", type=int, default=64)
    parser.add_argument("--load-processes", type=int, default=2)
    args = parser.parse_args()
    echo_rate, echo_counters = measure("echo", args.seconds, args.samples, args.sockets, args.load_processes)
    rate, counters = measure("protocol", args.seconds, args.samples, args.sockets, args.load_processes)
    busy = counters["cpu_us"] / 1e6 / args.seconds
    echo_busy = echo_counters["cpu_us"] / 1e6 / args.seconds
    print(f"bare UDP echo loop (baseline): {echo_rate:,.0f} replies/s, process busy {echo_busy:.0%}")
    print(
        f"landmark, k={args.samples}, all checks on: {rate:,.0f} challenge-responses/s "
        f"({rate / echo_rate:.2f} of the echo baseline), process busy {busy:.0%}; "
        f"{rate / busy:,.0f} per CPU-second of the landmark process"
    )
    sessions = counters["sessions_completed"]
    print(
        f"sessions completed: {sessions}, records signed: {counters['records_signed']}, "
        f"rejected/forged/replayed/late/rate_limited: {counters['rejected']}/{counters['forged']}/"
        f"{counters['replayed']}/{counters['late']}/{counters['rate_limited']}"
    )
    print(f"target >= 10,000/s: {'met' if rate >= 10_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
