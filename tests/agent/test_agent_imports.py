"""What the running agent loads: never pydantic or numpy, and no signing library without a server.

Resident memory is the agent's budget (docs/benchmarks.md) and flakes as a test, so this pins its
causes instead: pydantic with the wire models was close to half of it, ``cryptography`` another
8 MB (the agent signs with libsodium through PyNaCl instead, about 1 MB). The daemon runs in a
fresh interpreter (simulated backend, exporter on, probing set up as for `agent run`), serves a
few scrapes, stops, and reports what it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleetproof.agent.identity import IDENTITY_FILE, KEY_FILE
from fleetproof.probe.keys import generate_key, public_key_b64, save_private_key
from fleetproof.probe.landmark import LandmarkConfig, LandmarkServer
from fleetproof.probe.records import LandmarkEntry, MeasurementRecord, verify_record, write_landmark_directory

SCRIPT = r"""
import json, sys, threading, time, urllib.request

from fleetproof.agent.config import load_settings
from fleetproof.agent.daemon import run_daemon

state_dir, port, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
settings = load_settings(None, env={}, overrides={
    "backend": "simulated", "listen": f"127.0.0.1:{port}", "interval_s": 0.05, "state_dir": state_dir, **extra
})
stop = threading.Event()
thread = threading.Thread(target=run_daemon, args=(settings,), kwargs={"stop": stop})
thread.start()
bodies = {}
deadline = time.monotonic() + 60
try:
    for path in ("/metrics", "/v1/health", "/v1/inventory", "/v1/metrics"):
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                    bodies[path] = r.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    while not json.loads(bodies["/v1/inventory"] or b"null"):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/inventory", timeout=10) as r:
            bodies["/v1/inventory"] = r.read()
finally:
    stop.set()
    thread.join(60)
from fleetproof.agent.outbox import Outbox
box = Outbox(f"{state_dir}/outbox.sqlite3")
items = box.peek(10_000)
box.close()
print(json.dumps({
    "modules": sorted(sys.modules),
    "probe_records": [i.payload for i in items if i.kind == "probe_record"],
    "inventory": json.loads(bodies["/v1/inventory"]),
    "metrics_bytes": len(bodies["/metrics"]),
}))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_agent(state_dir: Path, **settings: object) -> dict[str, object]:
    src = Path(__file__).resolve().parents[2] / "src"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPROOF_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    env["FLEETPROOF_AGENT_SIMULATED_DEVICES"] = "8"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(state_dir), str(_free_port()), json.dumps(settings)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _top_level(modules: object) -> set[str]:
    assert isinstance(modules, list)
    return {str(m).split(".")[0] for m in modules}


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _run_agent(tmp_path_factory.mktemp("agent") / "state")


def test_the_running_agent_loads_neither_pydantic_nor_numpy(agent_run: dict[str, object]) -> None:
    result = agent_run
    loaded = _top_level(result["modules"])
    # The daemon really ran: the exporter served the round's inventory of 8 devices.
    inventory = result["inventory"]
    assert isinstance(inventory, dict) and len(inventory["accelerators"]) == 8
    assert "fleetproof" in loaded and "prometheus_client" in loaded
    assert "pydantic" not in loaded and "pydantic_core" not in loaded
    assert "numpy" not in loaded
    # Nor the server's or the geo engine's stacks.
    modules = result["modules"]
    assert isinstance(modules, list)
    server_side = (
        "fleetproof.server",
        "fleetproof.geo",
        "fleetproof.protocol.wire",
        "fleetproof.protocol.items",
    )
    assert [m for m in modules if m.startswith(server_side)] == ["fleetproof.protocol.wire_plain"]


def test_an_agent_without_a_server_loads_no_signing_library(agent_run: dict[str, object]) -> None:
    modules = agent_run["modules"]
    assert isinstance(modules, list)
    assert not {"cryptography", "nacl"} & _top_level(modules)
    assert "fleetproof.agent.client" not in modules


@pytest.mark.integration
def test_an_enrolled_agent_that_probes_loads_no_pydantic_and_its_records_verify(tmp_path: Path) -> None:
    """Enrolled, with a landmark to probe: the prober checks the landmark's record without pydantic,
    and what it queues is a record the server's model accepts and whose signature verifies."""
    state = tmp_path / "state"
    state.mkdir()
    device_key = generate_key()
    save_private_key(device_key, state / KEY_FILE)
    # A server nobody listens on: delivery fails and is retried, as on a host whose server is down.
    identity = {"device_id": "gpu-01", "server_url": f"http://127.0.0.1:{_free_port()}", "zone": "eu"}
    (state / IDENTITY_FILE).write_text(json.dumps(identity))
    landmark_key = generate_key()
    landmark = LandmarkServer(landmark_key, LandmarkConfig("fra"))
    landmark.start()
    try:
        host, port = landmark.address
        write_landmark_directory(
            tmp_path / "DIR.csv",
            [LandmarkEntry("fra", 50.1, 8.7, f"{host}:{port}", landmark_key.public_key())],
        )
        result = _run_agent(
            state, landmarks_file=str(tmp_path / "DIR.csv"), probe_samples=3, probe_timeout_s=0.5
        )
    finally:
        landmark.stop()
    modules = result["modules"]
    assert isinstance(modules, list)
    assert "fleetproof.probe.prober" in modules and "fleetproof.agent.client" in modules
    assert not {"pydantic", "pydantic_core", "numpy", "cryptography"} & _top_level(modules)
    assert "nacl" in _top_level(modules)
    records = result["probe_records"]
    assert isinstance(records, list) and len(records) == 1
    record = MeasurementRecord.model_validate(records[0])
    assert record.model_dump(mode="json") == records[0]
    assert record.device_id == "gpu-01" and record.device_public_key == public_key_b64(device_key)
    verify_record(record, landmark_key.public_key())
