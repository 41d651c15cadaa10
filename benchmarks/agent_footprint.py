"""Footprint of `fleetproof agent run` with 8 simulated accelerators (or a real backend) at a 10 s interval.

Starts the agent as its own process (exporter on, outbox on, no server), lets it
run for --duration seconds while Prometheus-style scrapes hit /metrics every
15 s, and samples its resident memory every second. CPU is the process's user +
system time over the measured window divided by the window's length. A bare
Python interpreter started the same way is the baseline for memory.

``--enrolled`` runs the agent as an enrolled host does: a device key and an enrollment
record in its state directory (so it signs every delivery attempt, to a server URL where
nothing listens: delivery fails and is retried, as while a server is down), and a real
landmark daemon, started here on 127.0.0.1, that it probes every --probe-interval seconds.

    PYTHONPATH=src python benchmarks/agent_footprint.py --duration 300
    PYTHONPATH=src python benchmarks/agent_footprint.py --duration 120 --enrolled
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from fleetproof.probe.landmark import LandmarkServer

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _baseline_rss_mb() -> float:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    time.sleep(1.5)
    rss = psutil.Process(proc.pid).memory_info().rss / 2**20
    proc.wait()
    return rss


def _enroll(state: Path, env: dict[str, str], probe_interval_s: float) -> LandmarkServer:
    """Key, enrollment record and one landmark to probe; return the landmark daemon (to stop)."""
    from fleetproof.probe.keys import generate_key, save_private_key
    from fleetproof.probe.landmark import LandmarkConfig, LandmarkServer
    from fleetproof.probe.records import LandmarkEntry, write_landmark_directory

    save_private_key(generate_key(), state / "device.key")
    closed = f"http://127.0.0.1:{_free_port()}"
    (state / "server.json").write_text(
        json.dumps({"device_id": "bench-01", "server_url": closed, "zone": "eu"})
    )
    key = generate_key()
    landmark = LandmarkServer(key, LandmarkConfig("fra"))
    landmark.start()
    host, port = landmark.address
    entries = [LandmarkEntry("fra", 50.1, 8.7, f"{host}:{port}", key.public_key())]
    write_landmark_directory(state / "DIR.csv", entries)
    env["FLEETPROOF_AGENT_LANDMARKS_FILE"] = str(state / "DIR.csv")
    env["FLEETPROOF_AGENT_PROBE_INTERVAL_S"] = str(probe_interval_s)
    return landmark


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=300.0, help="measured seconds")
    ap.add_argument("--devices", type=int, default=8, help="simulated accelerators")
    ap.add_argument("--backend", default="simulated", help="e.g. nvidia, on a host with its hardware")
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument(
        "--warmup", type=float, default=3.0, help="seconds ignored after start (imports, first round)"
    )
    ap.add_argument(
        "--enrolled", action="store_true", help="enrolled, signing, probing a landmark (see above)"
    )
    ap.add_argument(
        "--probe-interval", type=float, default=30.0, help="seconds between probe rounds (--enrolled)"
    )
    args = ap.parse_args()
    port = _free_port()
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path, FLEETPROOF_AGENT_SIMULATED_DEVICES=str(args.devices))
    with tempfile.TemporaryDirectory() as state:
        landmark = _enroll(Path(state), env, args.probe_interval) if args.enrolled else None
        cmd = [sys.executable, "-m", "fleetproof.agent", "run", "--backend", args.backend]
        cmd += ["--interval", str(args.interval), "--listen", f"127.0.0.1:{port}", "--state-dir", state]
        agent = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc = psutil.Process(agent.pid)
        try:
            time.sleep(args.warmup)
            t0, c0 = time.monotonic(), proc.cpu_times()
            rss: list[float] = []
            scrapes = 0
            next_scrape = t0
            while time.monotonic() - t0 < args.duration:
                rss.append(proc.memory_info().rss / 2**20)
                if time.monotonic() >= next_scrape:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                        resp.read()
                    scrapes += 1
                    next_scrape += 15.0
                time.sleep(1.0)
            t1, c1 = time.monotonic(), proc.cpu_times()
        finally:
            agent.terminate()
            agent.wait(timeout=30)
            if landmark is not None:
                landmark.stop()
    cpu_s = (c1.user - c0.user) + (c1.system - c0.system)
    baseline = _baseline_rss_mb()
    result = {
        "backend": args.backend,
        "enrolled": args.enrolled,
        "devices": args.devices if args.backend == "simulated" else None,
        "interval_s": args.interval,
        "window_s": round(t1 - t0, 1),
        "scrapes": scrapes,
        "rss_max_mb": round(max(rss), 1),
        "rss_mean_mb": round(sum(rss) / len(rss), 1),
        "cpu_percent_of_one_core": round(100 * cpu_s / (t1 - t0), 3),
        "baseline_python_rss_mb": round(baseline, 1),
        "rss_over_baseline_ratio": round(max(rss) / baseline, 2),
        "targets": {"rss_max_mb": 40, "cpu_percent_of_one_core": 0.5},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
