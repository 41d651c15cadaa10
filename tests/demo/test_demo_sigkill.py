"""`fleetproof demo` killed with SIGKILL: its server, landmark daemons and agents stop on their own.

The demo cannot clean up after a SIGKILL, so each child follows it (``fleetproof.lifeline``). The
children are listed (psutil, recursively) once they are all up, before the kill, and only they and
the demo itself are ever signalled by this test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = {
    "landmarks": [
        {"id": "frankfurt", "lat": 50.12, "lon": 8.68, "country": "DE"},
        {"id": "london", "lat": 51.52, "lon": -0.11, "country": "GB"},
        {"id": "prague", "lat": 50.08, "lon": 14.42, "country": "CZ"},
    ],
    "zones": [{"id": "eu", "allowed_countries": ["DE", "FR"]}],
    "hosts": [{"id": "gpu-fra", "zone": "eu", "accelerators": 1, "actual": {"lat": 50.11, "lon": 8.68}}],
}
CHILDREN = 3 + 1 + 1  # a daemon per landmark, the server, an agent per host


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # ended; whoever adopted it has yet to reap it
    except psutil.NoSuchProcess:
        return True


def _agents_running(demo: psutil.Process) -> bool:
    children = demo.children(recursive=True)
    agents = [c for c in children if "agent" in c.cmdline()]
    return len(children) >= CHILDREN and len(agents) == len(SCENARIO["hosts"])


def test_sigkill_of_the_demo_stops_all_its_children(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    port, token = _free_port(), "demo-kill-token"
    args = ["--scenario", str(scenario), "--port", str(port), "--admin-token", token, "--duration", "120"]
    # TMPDIR: the demo's working directory (database, logs) lands in tmp_path, since it cannot remove it.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "fleetproof", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    demo = psutil.Process(process.pid)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while not _agents_running(demo):
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "the demo's children did not all start"
            time.sleep(0.2)
        children = demo.children(recursive=True)
        assert len(children) >= CHILDREN
        headers = {"Authorization": f"Bearer {token}"}
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/devices", headers=headers, timeout=5)
        assert [d["id"] for d in response.json()] == ["gpu-fra"]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        killed = time.monotonic()
        while not all(_gone(c) for c in children) and time.monotonic() - killed < 15:
            time.sleep(0.1)
        left = [" ".join(c.cmdline()) for c in children if not _gone(c)]
        assert left == [], f"still running 15 s after the demo was killed: {left}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for child in children:
            if not _gone(child):
                child.kill()
        if process.stdout is not None:
            process.stdout.close()
    # Nothing listens on the demo's port any more.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
