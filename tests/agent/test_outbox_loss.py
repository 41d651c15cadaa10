"""The two zero-loss promises of the outbox: an hour-long server outage, and ``kill -9`` of the agent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.runner import Agent
from fleetproof.agent.transport import OutboxItem, TransportError
from fleetproof.protocol.wire import HealthEvent, InventoryReport, TelemetryReport

SRC = Path(__file__).resolve().parents[2] / "src"


class FlakyServer:
    def __init__(self) -> None:
        self.down = False
        self.attempts = 0
        self.received: list[OutboxItem] = []

    def send(self, items: Sequence[OutboxItem]) -> None:
        self.attempts += 1
        if self.down:
            raise TransportError("server unreachable")
        self.received.extend(items)


def test_an_hour_of_outage_is_kept_and_delivered(tmp_path: Path) -> None:
    """360 rounds at 10 s on an injected clock while the server is down, then recovery: nothing lost."""
    now = [1_700_000_000.0]
    clock = lambda: now[0]  # noqa: E731
    server = FlakyServer()
    outbox = Outbox(tmp_path / "outbox.db", clock=clock, rng=random.Random(7))
    enqueued: list[str] = []
    real_put_many = outbox.put_many

    def spy(entries: Any) -> list[str]:
        ids = real_put_many(entries)
        enqueued.extend(ids)
        return ids

    outbox.put_many = spy  # type: ignore[method-assign]
    sim = SimulatedCollector(devices=8, faults="thermal@3+600,xid79@5+1800", clock=clock)
    agent = Agent(
        collectors=[sim],
        components=create_all(),
        outbox=outbox,
        hostname="gpu-node-07",
        transport=server,
        clock=clock,
    )
    agent.round()  # server up: the first round goes straight through
    assert len(outbox) == 0
    server.down = True
    for _ in range(360):  # one hour at 10 s
        now[0] += 10.0
        agent.round()
    assert len(outbox) >= 360 and outbox.dropped_total == 0
    assert server.attempts < 40, "backoff must keep retries far below one per round"
    server.down = False
    for _ in range(60):
        now[0] += 10.0
        agent.round()
        if len(outbox) == 0:
            break
    else:
        pytest.fail("outbox did not drain after the server came back")
    received = {i.id for i in server.received}
    assert set(enqueued) <= received, f"lost {len(set(enqueued) - received)} items"
    assert outbox.dropped_total == 0
    kinds = [i.kind for i in server.received]
    assert kinds.count("telemetry") >= 361 + 1
    models = {"telemetry": TelemetryReport, "inventory": InventoryReport, "health": HealthEvent}
    for item in server.received:
        models[item.kind].model_validate(item.payload)  # the server's own models accept every item
    unhealthy = [i for i in server.received if i.kind == "health" and i.payload["state"] == "unhealthy"]
    assert any("Xid 79" in i.payload["reason"] for i in unhealthy)
    times = [i.payload["time"] for i in server.received if i.kind == "telemetry"]
    assert times == sorted(times) and times[-1] - times[0] >= 3600


CHILD = textwrap.dedent(
    """
    import os, random, sys, threading
    from fleetproof.agent.config import load_settings
    from fleetproof.agent.assemble import assemble_agent
    from fleetproof.agent.transport import TransportError

    state_dir, delivered_path = sys.argv[1], sys.argv[2]
    rng = random.Random(int(sys.argv[3]))

    class FileServer:
        # Appends delivered ids to a file and fsyncs before answering, like a server that commits first.
        def send(self, items):
            if rng.random() < 0.3:
                raise TransportError("simulated outage")
            with open(delivered_path, "a") as fh:
                fh.write("".join(i.id + "\\n" for i in items))
                fh.flush()
                os.fsync(fh.fileno())

    settings = load_settings(env={}, overrides={
        "backend": "simulated", "state_dir": state_dir, "interval_s": 0.01,
        "backoff_base_s": 0.01, "backoff_max_s": 0.05, "outbox_batch_size": 7,
        "simulated_faults": "thermal@1,xid48@2+0.2",
    })
    agent = assemble_agent(settings, keep_state=True, transport=FileServer())
    put_many = agent.outbox.put_many
    def announce(entries):
        ids = put_many(entries)          # committed to disk when this returns
        sys.stdout.write("".join(i + "\\n" for i in ids))
        sys.stdout.flush()
        return ids
    agent.outbox.put_many = announce
    agent.run(threading.Event(), settings.interval_s)
    """
)


@pytest.mark.integration
def test_kill_9_of_the_agent_loses_nothing(tmp_path: Path) -> None:
    """Run the real agent loop three times, SIGKILL it mid-flight each time, then drain: nothing lost."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    state, delivered = tmp_path / "state", tmp_path / "delivered.log"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    announced: list[str] = []
    for attempt, wait_for in enumerate((150, 400, 260)):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(state), str(delivered), str(attempt)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        assert proc.stdout is not None
        got = 0
        deadline = time.monotonic() + 60
        while got < wait_for and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            announced.append(line.strip())
            got += 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        announced += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
        assert got == wait_for, "the agent stopped announcing items before it was killed"
    box = Outbox(state / "outbox.sqlite3")
    survivors = FlakyServer()
    box.deliver(survivors, batch_size=500, max_batches=1000)
    assert len(box) == 0
    arrived = set(delivered.read_text().split()) | {i.id for i in survivors.received}
    missing = set(announced) - arrived
    assert not missing, f"{len(missing)} committed items lost after kill -9"
    assert box.dropped_total == 0
