"""Ingest throughput of the fleet server: agent telemetry reports per second, p50/p99 latency.

Each report is one host's telemetry at one instant: 8 accelerators × 20 metrics (the
shape the agent sends). Simulated agents post them as the agent's outbox does, in
signed batches (``--batch`` reports per request) to ``/api/v1/ingest`` on loopback,
from ``--concurrency`` client threads, for ``--seconds``. The same requests are also
sent to a bare ASGI app under the same uvicorn (the baseline), so the ratio isolates
what validation, authentication and storage cost.

    PYTHONPATH=src python benchmarks/server_ingest.py --db sqlite
    PYTHONPATH=src python benchmarks/server_ingest.py --db postgres   # throwaway cluster
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_common import ROOT, free_port, postgres_cluster, running_server, wait_ready

from fleetproof.agent.client import enroll
from fleetproof.agent.enroll_cli import host_inventory
from fleetproof.probe.keys import load_private_key
from fleetproof.protocol.reqsign import sign_request

TOKEN = "benchmark-admin-token"
METRICS = [
    "temperature_c",
    "power_w",
    "power_limit_w",
    "sm_clock_mhz",
    "memory_clock_mhz",
    "utilization_pct",
    "memory_utilization_pct",
    "memory_used_bytes",
    "memory_total_bytes",
    "ecc_volatile_sbe_count",
    "ecc_volatile_dbe_count",
    "ecc_aggregate_sbe_count",
    "ecc_aggregate_dbe_count",
    "retired_pages_count",
    "pcie_replay_count",
    "nvlink_crc_errors_count",
    "throttle_reasons_mask",
    "fan_speed_pct",
    "energy_joules",
    "xid_last",
]


def report_payload(hostname: str) -> bytes:
    accs = [
        {
            "uuid": f"GPU-{hostname}-{i}",
            "index": i,
            "vendor": "nvidia",
            "model": "NVIDIA H100 80GB HBM3",
            "metrics": {m: float(1000 * i + k) + 0.5 for k, m in enumerate(METRICS)},
        }
        for i in range(8)
    ]
    doc = {"time": time.time(), "hostname": hostname, "accelerators": accs, "host_metrics": {"load_1m": 3.2}}
    return json.dumps(doc, separators=(",", ":")).encode()


def body_for(payload: bytes, batch: int) -> bytes:
    now = time.time()
    items = [
        b'{"id":"%s","kind":"telemetry","created_at":%.3f,"payload":%s}'
        % (uuid.uuid4().hex.encode(), now, payload)
        for _ in range(batch)
    ]
    return b'{"items":[' + b",".join(items) + b"]}"


def run_load(
    base: str, agents: list[tuple[str, Any, bytes]], batch: int, concurrency: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    reports = [0]
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(mine: list[tuple[str, Any, bytes]]) -> None:
        client = httpx.Client(timeout=60)
        k = 0
        while time.monotonic() < stop:
            device_id, key, payload = mine[k % len(mine)]
            k += 1
            body = body_for(payload, batch)
            headers = sign_request(key, device_id, "POST", "/api/v1/ingest", body)
            headers["content-type"] = "application/json"
            t0 = time.perf_counter()
            r = client.post(base + "/api/v1/ingest", content=body, headers=headers)
            dt = time.perf_counter() - t0
            with lock:
                if r.status_code == 200:
                    latencies.append(dt)
                    reports[0] += batch
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=worker, args=(agents[i::concurrency],)) for i in range(concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    latencies.sort()
    return {
        "reports_per_s": round(reports[0] / elapsed, 1),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1)
        if latencies
        else None,
        "mean_ms": round(1000 * statistics.fmean(latencies), 1) if latencies else None,
        "errors": errors[0],
        "seconds": round(elapsed, 1),
    }


def enroll_agents(base: str, n: int, state: Path) -> list[tuple[str, Any, bytes]]:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    httpx.post(base + "/api/v1/zones", json={"id": "bench", "allowed_countries": ["DE"]}, headers=admin)
    out = []
    for i in range(n):
        token = httpx.post(base + "/api/v1/enrollment-tokens", json={"zone": "bench"}, headers=admin).json()[
            "token"
        ]
        ident = enroll(base, token, state / f"a{i}", host_inventory(f"bench-host-{i:03d}"))
        out.append(
            (
                ident.device_id,
                load_private_key(state / f"a{i}" / "device.key"),
                report_payload(f"bench-host-{i:03d}"),
            )
        )
    return out


def baseline(agents: list[tuple[str, Any, bytes]], args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("server_sink.py")), str(port)])
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, "/")
        return run_load(f"http://127.0.0.1:{port}", agents, args.batch, args.concurrency, args.seconds)
    finally:
        proc.terminate()
        proc.wait()


def measure(db: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, running_server(db, TOKEN, "--no-background") as (base, proc):
        agents = enroll_agents(base, args.agents, Path(tmp))
        server = psutil.Process(proc.pid)
        cpu0 = sum(server.cpu_times()[:2])
        result = run_load(base, agents, args.batch, args.concurrency, args.seconds)
        result["server_cpu_s_per_1000_reports"] = round(
            1000 * (sum(server.cpu_times()[:2]) - cpu0) / max(1, result["reports_per_s"] * result["seconds"]),
            3,
        )
        stored = httpx.get(base + "/metrics").text
        result["server_metrics_accepted_line"] = next(
            (
                line
                for line in stored.splitlines()
                if line.startswith("fleetproof_server_ingest_items_total")
                and 'kind="telemetry"' in line
                and 'outcome="accepted"' in line
            ),
            None,
        )
        result["baseline_bare_asgi"] = baseline(agents, args)
        result["ratio_to_baseline"] = round(
            result["reports_per_s"] / result["baseline_bare_asgi"]["reports_per_s"], 3
        )
        return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres, or a database URL")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument(
        "--batch", type=int, default=100, help="reports per request (the agent outbox_batch_size default)"
    )
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    info = {
        "batch_reports_per_request": args.batch,
        "accelerators_per_report": 8,
        "metrics_per_accelerator": 20,
        "concurrency": args.concurrency,
        "agents": args.agents,
        "cpus": os.cpu_count(),
    }
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(f"sqlite:///{tmp}/bench.db", args)
    elif args.db == "postgres":
        with postgres_cluster() as url:
            result = measure(url, args)
    else:
        result = measure(args.db, args)
    print(json.dumps({"store": args.db.split(":")[0], **info, **result}, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(ROOT / "src"))
    raise SystemExit(main())
