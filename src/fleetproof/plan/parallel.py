"""Engine blocks on several cores: a :data:`~fleetproof.plan.judge.Runner` over forked workers.

The judge sets up every block's inputs in the parent; the workers are forked from it
after that (sharing the memory copy-on-write), so only block numbers go out and
verdict strings come back. Where ``fork`` is missing, or there are only a few blocks
(the last rounds of a budget search), the blocks run here.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

from fleetproof.batch.parallel import release_free_memory
from fleetproof.plan.judge import Runner

__all__ = ["fork_runner"]

_STATE: dict[str, Any] = {}
#: Fewer blocks than this run here: starting workers would cost more than they save.
SERIAL_BELOW = 4


def _call(k: int) -> list[str | None]:
    fn: Callable[[int], list[str | None]] = _STATE["fn"]
    return fn(k)


def fork_runner(workers: int) -> Runner:
    """A runner that spreads blocks over ``workers`` forked processes (in order)."""

    def run(fn: Callable[[int], list[str | None]], n: int) -> list[list[str | None]]:
        if workers <= 1 or n < SERIAL_BELOW or "fork" not in multiprocessing.get_all_start_methods():
            return [fn(k) for k in range(n)]
        _STATE["fn"] = fn
        try:
            release_free_memory()
            with multiprocessing.get_context("fork").Pool(min(workers, n)) as pool:
                return list(pool.imap(_call, range(n), chunksize=1))
        finally:
            _STATE.clear()

    return run
