"""Latency of a `/metrics` scrape with 8 simulated accelerators.

Starts `fleetproof agent run` as its own process (rounds every --interval
seconds, so scrapes keep meeting fresh rounds and re-rendered text), then
scrapes /metrics --scrapes times over a new TCP connection each time, as a
Prometheus server without keep-alive would. The baseline, measured in the same
run against the same server, is a request for a missing path (a tiny 404): the
difference is what rendering and sending the exposition costs. Also reports the
in-process time to render the exposition from scratch (the cache-miss cost).

    PYTHONPATH=src python benchmarks/agent_scrape.py --scrapes 2000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[float, int, int]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return (time.perf_counter() - start) * 1000, resp.status, len(body)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _render_ms(devices: int, repeats: int) -> list[float]:
    from fleetproof.agent.checks.registry import create_all
    from fleetproof.agent.collectors.simulated import SimulatedCollector
    from fleetproof.agent.collectors.system import SystemCollector
    from fleetproof.agent.export.prometheus import render
    from fleetproof.agent.runner import Agent

    agent = Agent(
        collectors=[SimulatedCollector(devices=devices), SystemCollector()],
        components=create_all(),
        outbox=None,
        hostname="bench",
    )
    agent.round()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        render(agent.state, "bench")
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scrapes", type=int, default=2000)
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument(
        "--spacing-s",
        type=float,
        default=0.0,
        help="wait this long between scrapes; above --interval every scrape meets a new round, "
        "as Prometheus' usual 15 s scrapes of a 10 s agent do",
    )
    args = ap.parse_args()
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), FLEETPROOF_AGENT_SIMULATED_DEVICES=str(args.devices))
    with tempfile.TemporaryDirectory() as state:
        cmd = [sys.executable, "-m", "fleetproof.agent", "run", "--backend", "simulated"]
        cmd += ["--interval", str(args.interval), "--listen", f"127.0.0.1:{port}", "--state-dir", state]
        agent = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if _get(port, "/metrics")[1] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("agent did not start")
                time.sleep(0.1)
            metrics, baseline = [], []
            size = 0
            for _ in range(args.scrapes):
                if args.spacing_s:
                    time.sleep(args.spacing_s)
                ms, status, size = _get(port, "/metrics")
                assert status == 200
                metrics.append(ms)
                baseline.append(_get(port, "/nope")[0])
        finally:
            agent.terminate()
            agent.wait(timeout=30)
    render_times = _render_ms(args.devices, 500)
    result = {
        "devices": args.devices,
        "scrapes": args.scrapes,
        "interval_s": args.interval,
        "spacing_s": args.spacing_s,
        "body_bytes": size,
        "metrics_p50_ms": round(statistics.median(metrics), 3),
        "metrics_p99_ms": round(_pct(metrics, 0.99), 3),
        "metrics_max_ms": round(max(metrics), 3),
        "baseline_404_p50_ms": round(statistics.median(baseline), 3),
        "baseline_404_p99_ms": round(_pct(baseline, 0.99), 3),
        "p99_over_baseline_ratio": round(_pct(metrics, 0.99) / _pct(baseline, 0.99), 2),
        "render_uncached_p50_ms": round(statistics.median(render_times), 3),
        "render_uncached_p99_ms": round(_pct(render_times, 0.99), 3),
        "target_p99_ms": 20,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
