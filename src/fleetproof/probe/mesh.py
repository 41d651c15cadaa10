"""The landmark mesh: landmarks probing each other with the same protocol.

Each landmark runs a :class:`~fleetproof.probe.prober.Prober` with its own key
and its own id as the "device", on a schedule (:func:`run_mesh`). The records
are signed by the *measuring* landmark as usual; :func:`build_mesh` accepts a
record only if it verifies under the measuring landmark's directory key *and*
the prober's key is the directory key of the landmark it names, so neither side
of a mesh RTT can be an outsider. The output is the engine's mesh file
``a,b,rtt_ms``: one row per unordered pair, the minimum over both directions
and all rounds — what the engine calibrates its delay model with and vets
landmarks against.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from fleetproof.probe.keys import public_key_b64, write_atomic
from fleetproof.probe.prober import Prober, ProbeResult, ProbeTransport
from fleetproof.probe.records import LandmarkEntry, MeasurementRecord, RecordError, verify_record
from fleetproof.probe.wire import printable
from fleetproof.protocol.curve25519 import Ed25519PrivateKey

__all__ = ["build_mesh", "mesh_rounds", "run_mesh", "write_mesh_csv"]


def mesh_rounds(
    self_id: str,
    key: Ed25519PrivateKey,
    directory: Mapping[str, LandmarkEntry],
    transport: ProbeTransport,
    *,
    rounds: int | None = 1,
    every_s: float = 60.0,
    samples: int = 10,
    timeout_s: float = 1.0,
    sleep: Callable[[float], None] | None = None,
    concurrency: int = 1,
) -> Iterator[ProbeResult]:
    """Probe every other landmark once per round, ``every_s`` apart; ``rounds=None`` runs forever.

    ``concurrency`` landmarks are probed at once (1: one after the other, the gentlest on a
    landmark that also serves devices).
    """
    if self_id not in directory:
        raise ValueError(f"landmark {self_id!r} is not in the directory")
    if public_key_b64(key) != directory[self_id].public_key_b64:
        raise ValueError(f"the key given is not landmark {self_id!r}'s directory key")
    prober = Prober(key, self_id, transport, samples=samples, timeout_s=timeout_s, concurrency=concurrency)
    if sleep is not None:
        prober.sleep = sleep
    others = [lm for lid, lm in directory.items() if lid != self_id]
    for number in itertools.count() if rounds is None else range(rounds):
        if number:
            prober.sleep(every_s)
        yield prober.probe(others)


def run_mesh(
    self_id: str,
    key: Ed25519PrivateKey,
    directory: Mapping[str, LandmarkEntry],
    transport: ProbeTransport,
    *,
    rounds: int = 1,
    every_s: float = 60.0,
    samples: int = 10,
    timeout_s: float = 1.0,
    sleep: Callable[[float], None] | None = None,
    concurrency: int = 1,
) -> list[MeasurementRecord]:
    """All records of ``rounds`` rounds of :func:`mesh_rounds`."""
    results = mesh_rounds(
        self_id,
        key,
        directory,
        transport,
        rounds=rounds,
        every_s=every_s,
        samples=samples,
        timeout_s=timeout_s,
        sleep=sleep,
        concurrency=concurrency,
    )
    return [record for result in results for record in result.records]


def build_mesh(
    records: Iterable[MeasurementRecord], directory: Mapping[str, LandmarkEntry]
) -> tuple[dict[tuple[str, str], float], list[str]]:
    """Minimum RTT per unordered landmark pair, and a reason for every record left out."""
    best: dict[tuple[str, str], float] = {}
    problems: list[str] = []
    for n, record in enumerate(records, start=1):
        where = f"record {n} ({printable(record.device_id)} → {printable(record.landmark_id)})"
        measured = directory.get(record.landmark_id)
        prober = directory.get(record.device_id)
        if measured is None or prober is None:
            problems.append(f"{where}: not a landmark pair in the directory")
            continue
        if record.device_public_key != prober.public_key_b64:
            problems.append(
                f"{where}: probed with a key that is not {printable(record.device_id)}'s directory key"
            )
            continue
        try:
            verify_record(record, measured.public_key)
        except RecordError as exc:
            problems.append(f"{where}: {exc}")
            continue
        a, b = sorted((record.device_id, record.landmark_id))
        if a != b and ((a, b) not in best or record.rtt_ms < best[(a, b)]):
            best[(a, b)] = record.rtt_ms
    return best, problems


def write_mesh_csv(path: str | Path, mesh: Mapping[tuple[str, str], float]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["a", "b", "rtt_ms"])
    for (a, b), rtt in sorted(mesh.items()):
        writer.writerow([a, b, f"{rtt:.6f}"])
    write_atomic(path, out.getvalue().encode("utf-8"))
