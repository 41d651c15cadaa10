"""Run the engine over many targets on several cores.

The verifier and the inputs are set up once in the parent; worker processes are
forked from it (sharing that memory copy-on-write) and each verifies spans of
targets, so nothing large is pickled on the way in. Results come back in order.
Where ``fork`` is not available, or the job is small, it runs in-process.

:func:`verify_encoded` has the workers write the JSON lines themselves and send
back text plus a few fields per result for the summary: turning results into
JSON in the parent, and pickling them on the way there, cost more than the
verification on one core of two.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

from fleetproof.geo import Claim, Result, Verifier

__all__ = [
    "Brief",
    "default_workers",
    "release_free_memory",
    "tune_allocator",
    "verify_encoded",
    "verify_parallel",
]

SPAN = 512
#: glibc ``mallopt`` parameters.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_STATE: dict[str, Any] = {}
T = TypeVar("T")


class Brief(NamedTuple):
    """What the summary needs of a result (cheap to send between processes)."""

    claim: str | None
    target: str
    verdict: str | None
    suspicious: bool
    lat: float | None
    lon: float | None
    radius_km: float | None
    country: str | None

    @staticmethod
    def of(r: Result) -> Brief:
        e = r.estimate
        return Brief(r.claim, r.target, r.verdict, r.suspicious, e.lat, e.lon, e.radius_km, e.country)


def default_workers() -> int:
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except AttributeError:  # not on Linux
        return max(1, min(os.cpu_count() or 1, 8))


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: the allocator's defaults stay
        return None


def tune_allocator() -> None:
    """Keep freed arrays in the heap for reuse instead of unmapping them (glibc).

    The engine makes and drops arrays of a few MB for every chunk of targets. By
    default glibc maps and unmaps such arrays each time, and the kernel must fault
    in and zero their pages again: that cost a third of the CPU time of a run. With
    fixed, high thresholds they are reused from the heap; :func:`release_free_memory`
    hands what is left back before forking.
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, 256 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 512 << 20)


def release_free_memory() -> None:
    """Hand freed heap back to the system (glibc keeps it), so forked workers do not carry it."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def encode(results: Sequence[Result]) -> tuple[str, list[Brief]]:
    """JSON lines (compact, UTF-8 as is, one ``\\n`` after each) and the briefs of some results."""
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    text = "".join([dumps(r.to_json()) + "\n" for r in results])
    return text, [Brief.of(r) for r in results]


def _work(span: tuple[int, int]) -> list[Result]:
    lo, hi = span
    verifier: Verifier = _STATE["verifier"]
    by_row: dict[int, list[Claim]] = _STATE["by_row"]
    pairs = [(r - lo, c) for r in range(lo, hi) for c in by_row.get(r, [])]
    return verifier.verify_matrix(_STATE["targets"][lo:hi], _STATE["rtt"][lo:hi], pairs)


def _work_encoded(span: tuple[int, int]) -> tuple[str, list[Brief]]:
    return encode(_work(span))


def _run(
    fn: Callable[[tuple[int, int]], T],
    verifier: Verifier,
    targets: Sequence[str],
    rtt: np.ndarray,
    pairs: Sequence[tuple[int, Claim]],
    workers: int,
    progress: Callable[[int], None] | None,
) -> list[T]:
    """``fn`` over spans of SPAN targets, in order: in forked workers, or here for small jobs."""
    by_row: dict[int, list[Claim]] = {}
    for row, claim in pairs:
        by_row.setdefault(row, []).append(claim)
    _STATE.update(verifier=verifier, targets=targets, rtt=rtt, by_row=by_row)
    spans = [(lo, min(lo + SPAN, len(targets))) for lo in range(0, len(targets), SPAN)]
    out: list[T] = []
    try:
        if workers <= 1 or len(targets) < 2 * SPAN or "fork" not in multiprocessing.get_all_start_methods():
            parts: Any = map(fn, spans)
            for (lo, hi), part in zip(spans, parts, strict=True):
                out.append(part)
                if progress is not None:
                    progress(hi - lo)
            return out
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for (lo, hi), part in zip(spans, pool.imap(fn, spans), strict=True):
                out.append(part)
                if progress is not None:
                    progress(hi - lo)
    finally:
        _STATE.clear()
    return out


def verify_parallel(
    verifier: Verifier,
    targets: Sequence[str],
    rtt: np.ndarray,
    pairs: Sequence[tuple[int, Claim]],
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> list[Result]:
    """Same answer as ``verifier.verify_matrix(targets, rtt, pairs)``, using ``workers`` processes."""
    if workers <= 1 or len(targets) < 2 * SPAN or "fork" not in multiprocessing.get_all_start_methods():
        return verifier.verify_matrix(targets, rtt, pairs, progress)
    parts = _run(_work, verifier, targets, rtt, pairs, workers, progress)
    return [r for part in parts for r in part]


def verify_encoded(
    verifier: Verifier,
    targets: Sequence[str],
    rtt: np.ndarray,
    pairs: Sequence[tuple[int, Claim]],
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[str], list[Brief]]:
    """The results as JSON-lines text (in order, in parts) and their briefs, using ``workers`` processes."""
    parts = _run(_work_encoded, verifier, targets, rtt, pairs, workers, progress)
    return [text for text, _ in parts], [b for _, briefs in parts for b in briefs]
