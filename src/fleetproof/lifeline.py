"""Children that stop when the process that started them is gone, even when it was SIGKILLed.

``fleetproof demo`` starts a server, landmark daemons and agents as child processes and stops them on
Ctrl-C, SIGTERM or ``--duration``. A SIGKILL (or a crash) of the demo runs none of that, and without
help the children would keep running, holding their ports. So the demo puts its own process id in
:data:`ENV` of each child, and the child's entry point (``python -m fleetproof``) calls
:func:`follow_parent` first thing:

* on Linux it asks the kernel for SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), so it
  stops at once and through its usual SIGTERM handling (strictly, when the parent's thread that
  started it ends: the demo starts its children from its main thread);
* everywhere, a daemon thread checks once a second that its parent is still the one named in
  :data:`ENV` (an orphan is adopted by another process, so ``os.getppid()`` changes), and sends
  itself SIGTERM when not: the fallback where ``prctl`` is missing, or refused.

The variable is removed from the environment once read, so processes the child starts in turn (a
vendor tool, say) do not follow a parent that is not theirs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import MutableMapping

__all__ = ["ENV", "child_env", "follow_parent"]

ENV = "FLEETPROOF_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_POLL_S = 1.0
_GRACE_S = 10.0  # after its own SIGTERM, how long the child may take before it is ended for good


def child_env() -> dict[str, str]:
    """The environment entry that makes a ``python -m fleetproof`` child follow this process."""
    return {ENV: str(os.getpid())}


def _death_signal(sig: signal.Signals) -> bool:
    """Ask Linux to send ``sig`` when the parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _leave() -> None:
    """Stop through the process's own SIGTERM handling; end it outright if that hangs."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(_GRACE_S)
    os._exit(128 + signal.SIGTERM)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    _leave()


def follow_parent(environ: MutableMapping[str, str] | None = None, *, use_prctl: bool = True) -> bool:
    """Stop this process when the parent named in :data:`ENV` goes away; False when none is named.

    Call it before anything else in the child: a parent that is already gone (killed while the child
    was starting) makes the child exit at once.
    """
    env = os.environ if environ is None else environ
    value = env.pop(ENV, "")
    if not value.isdigit():
        return False
    parent = int(value)
    if use_prctl:
        _death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # gone before the death signal was asked for
        raise SystemExit(128 + signal.SIGTERM)
    with contextlib.suppress(RuntimeError):  # interpreter shutting down: nothing left to watch for
        threading.Thread(target=_watch, args=(parent,), name="fleetproof-lifeline", daemon=True).start()
    return True
