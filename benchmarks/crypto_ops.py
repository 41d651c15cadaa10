"""Cost of each Ed25519/X25519 operation the project makes: libsodium (ours) against ``cryptography``.

Times, in one process and interleaved round by round (so a busy machine hurts both alike),
what ``fleetproof.protocol.curve25519`` does and the same operation through ``cryptography``
(OpenSSL; a development dependency, the library fleetproof used before): signing a 200-byte
message (a request's canonical string is about that long), verifying it, generating an
Ed25519 key, an X25519 ephemeral key plus one exchange (a probe session's key agreement), and
parsing a private key's PEM. Prints the median per operation in microseconds, and the ratio.

    PYTHONPATH=src python benchmarks/crypto_ops.py [--rounds 7] [--n 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519 as c_ed25519
from cryptography.hazmat.primitives.asymmetric import x25519 as c_x25519

from fleetproof.protocol import curve25519 as ours

MESSAGE = bytes(range(200))


def _cases() -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    seed = bytes(range(32))
    key = ours.Ed25519PrivateKey.from_private_bytes(seed)
    ckey = c_ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    sig = key.sign(MESSAGE)
    pub, cpub = key.public_key(), ckey.public_key()
    peer = ours.X25519PrivateKey.generate().public_key()
    cpeer = c_x25519.X25519PublicKey.from_public_bytes(peer.public_bytes_raw())
    pem = ours.private_key_to_pem(key)
    return {
        "sign (200 B)": (lambda: key.sign(MESSAGE), lambda: ckey.sign(MESSAGE)),
        "verify (200 B)": (lambda: pub.verify(sig, MESSAGE), lambda: cpub.verify(sig, MESSAGE)),
        "Ed25519 generate": (ours.Ed25519PrivateKey.generate, c_ed25519.Ed25519PrivateKey.generate),
        "X25519 generate + exchange": (
            lambda: ours.X25519PrivateKey.generate().exchange(peer),
            lambda: c_x25519.X25519PrivateKey.generate().exchange(cpeer),
        ),
        "private key from PEM": (
            lambda: ours.private_key_from_pem(pem),
            lambda: serialization.load_pem_private_key(pem, password=None),
        ),
    }


def _per_op_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the median is reported")
    parser.add_argument("--n", type=int, default=2000, help="operations per round")
    args = parser.parse_args()
    if args.rounds < 1 or args.n < 1:
        parser.error("--rounds and --n must be at least 1")
    cases = _cases()
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cases}
    for _ in range(args.rounds):
        for name, (fn_ours, fn_theirs) in cases.items():
            times[name][0].append(_per_op_us(fn_ours, args.n))
            times[name][1].append(_per_op_us(fn_theirs, args.n))
    print(f"{'operation':<28} {'libsodium':>12} {'cryptography':>14} {'ratio':>7}")
    for name, (t_ours, t_theirs) in times.items():
        a, b = statistics.median(t_ours), statistics.median(t_theirs)
        print(f"{name:<28} {a:>9.1f} us {b:>11.1f} us {a / b:>6.2f}x")


if __name__ == "__main__":
    main()
