"""A process started with the lifeline variable stops when its parent is gone, SIGKILL included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from fleetproof.lifeline import ENV, child_env, follow_parent

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).resolve().parents[1] / "src")

# The middle process starts the follower with the lifeline variable, reports its pid, and waits.
MIDDLE = """
import os, subprocess, sys, time
from fleetproof.lifeline import child_env
code = "from fleetproof.lifeline import follow_parent; follow_parent(use_prctl=%s); "
code += "import time; time.sleep(120)"
env = {**os.environ, **child_env()}
follower = subprocess.Popen([sys.executable, "-c", code % sys.argv[1]], env=env)
print(follower.pid, flush=True)
time.sleep(120)
"""


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # ended, waiting for whoever adopted it to reap it
    except psutil.NoSuchProcess:
        return True


def _follower_outlives_a_killed_parent(use_prctl: bool) -> float:
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop(ENV, None)
    middle = subprocess.Popen(
        [sys.executable, "-c", MIDDLE, str(use_prctl)], stdout=subprocess.PIPE, env=env, text=True
    )
    follower = None
    try:
        assert middle.stdout is not None
        follower = psutil.Process(int(middle.stdout.readline()))
        time.sleep(0.5)  # let it get past follow_parent
        assert follower.is_running() and not _gone(follower)
        middle.send_signal(signal.SIGKILL)
        middle.wait(timeout=10)
        killed = time.monotonic()
        while not _gone(follower) and time.monotonic() - killed < 10:
            time.sleep(0.05)
        return time.monotonic() - killed if _gone(follower) else float("inf")
    finally:
        if middle.poll() is None:
            middle.kill()
            middle.wait(timeout=10)
        if follower is not None and not _gone(follower):
            follower.kill()


def test_the_death_signal_stops_the_child_at_once() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    assert _follower_outlives_a_killed_parent(use_prctl=True) < 0.5


def test_without_prctl_the_parent_watch_stops_the_child() -> None:
    assert _follower_outlives_a_killed_parent(use_prctl=False) < 5.0


def test_a_child_whose_parent_is_already_gone_exits_and_the_variable_is_not_inherited() -> None:
    env = {ENV: "1" if os.getppid() != 1 else "2"}  # not our parent
    with pytest.raises(SystemExit):
        follow_parent(env, use_prctl=False)
    assert ENV not in env
    assert follow_parent({}) is False
    assert follow_parent({ENV: "not-a-pid"}) is False
    assert child_env() == {ENV: str(os.getpid())}
