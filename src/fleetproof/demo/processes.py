"""Child processes of the demo: started with their logs in files, stopped by their own ids.

Every child is a ``python -m fleetproof …`` of this same interpreter, so the demo runs whatever
fleetproof is installed beside it. Stopping sends SIGTERM, waits, then SIGKILL, and only ever to the
processes this group started. Each child also follows this process (:mod:`fleetproof.lifeline`): if
the demo is killed without a chance to stop them (SIGKILL, a crash), they stop on their own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleetproof.errors import UnavailableError
from fleetproof.lifeline import child_env

__all__ = ["Child", "ProcessGroup"]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcessGroup:
    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
        """Start ``python -m fleetproof ARGS`` with stdout and stderr in ``log_dir/NAME.log``."""
        log_path = self.log_dir / f"{name}.log"
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(child_env())
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "fleetproof", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def wait_for(self, child: Child, ready: Callable[[], bool], *, timeout_s: float, what: str) -> None:
        """Poll ``ready`` until it is true; fail with the child's log if it exits or takes too long."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child.process.poll() is None and ready():
                return
            if child.process.poll() is not None:
                raise UnavailableError(
                    f"{child.name} exited with status {child.process.returncode} before {what}:\n"
                    + child.log_tail()
                )
            time.sleep(0.05)
        raise UnavailableError(f"{child.name}: no {what} after {timeout_s:.0f} s:\n" + child.log_tail())

    def failed(self) -> list[Child]:
        """Children that have exited on their own."""
        return [c for c in self.children if c.process.poll() is not None]

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM every child still running (newest first), then SIGKILL those that linger."""
        running = [c for c in reversed(self.children) if c.process.poll() is None]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in running:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(timeout=5)
