"""Run the engine over many targets on several cores.

The verifier and the inputs are set up once in the parent; worker processes are
forked from it (sharing that memory copy-on-write) and each verifies spans of
targets, so nothing large is pickled on the way in. Results come back in order.
Where ``fork`` is not available, or the job is small, it runs in-process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fleetproof.geo import Claim, Result, Verifier

__all__ = ["default_workers", "verify_parallel"]

SPAN = 1024
_STATE: dict[str, Any] = {}


def default_workers() -> int:
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except AttributeError:  # not on Linux
        return max(1, min(os.cpu_count() or 1, 8))


def _work(span: tuple[int, int]) -> list[Result]:
    lo, hi = span
    verifier: Verifier = _STATE["verifier"]
    by_row: dict[int, list[Claim]] = _STATE["by_row"]
    pairs = [(r - lo, c) for r in range(lo, hi) for c in by_row.get(r, [])]
    return verifier.verify_matrix(_STATE["targets"][lo:hi], _STATE["rtt"][lo:hi], pairs)


def verify_parallel(
    verifier: Verifier,
    targets: Sequence[str],
    rtt: np.ndarray,
    pairs: Sequence[tuple[int, Claim]],
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> list[Result]:
    """Same answer as ``verifier.verify_matrix(targets, rtt, pairs)``, using ``workers`` processes."""
    methods = multiprocessing.get_all_start_methods()
    if workers <= 1 or len(targets) < 2 * SPAN or "fork" not in methods:
        return verifier.verify_matrix(targets, rtt, pairs, progress)
    by_row: dict[int, list[Claim]] = {}
    for row, claim in pairs:
        by_row.setdefault(row, []).append(claim)
    _STATE.update(verifier=verifier, targets=targets, rtt=rtt, by_row=by_row)
    spans = [(lo, min(lo + SPAN, len(targets))) for lo in range(0, len(targets), SPAN)]
    out: list[Result] = []
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for (lo, hi), part in zip(spans, pool.imap(_work, spans), strict=True):
                out.extend(part)
                if progress is not None:
                    progress(hi - lo)
    finally:
        _STATE.clear()
    return out
