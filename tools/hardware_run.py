"""One prepared run of the agent on real NVIDIA hardware; docs/hardware-runs.md records its output.

Run on a machine with an NVIDIA driver and ``nvidia-ml-py`` (and fleetproof's own
dependencies) importable, from the repository root:

    PYTHONPATH=src python tools/hardware_run.py [--out DIR] [--load-seconds 8]

It prints, in order: the NVIDIA collector's inventory and metrics at rest; the same
under a few seconds of matrix-multiply load (when PyTorch with CUDA is importable),
so that utilisation, power and clocks are seen to move; how long one collection takes;
``fleetproof agent scan`` (table and JSON) end to end; and ``fleetproof agent run`` for
five rounds with its ``/metrics`` endpoint scraped on 127.0.0.1. Nothing here changes
the device's settings: the agent only reads.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _collector_report(label: str, snap: Any) -> None:
    print(f"-- {label}: collector {snap.collector}, error {snap.error!r}, {snap.duration_s * 1000:.1f} ms")
    for d in snap.devices:
        info = d.info
        print(
            f"   [{info.index}] {info.vendor} {info.model} uuid={info.uuid[:12]}… bus={info.bus_id} "
            f"driver={info.driver_version} firmware={info.firmware_version} memory={info.memory_total_bytes}"
        )
        print(f"   metrics: {json.dumps({k: round(v, 3) for k, v in sorted(d.metrics.items())})}")
        print(
            f"   throttle={sorted(d.throttle_reasons)} persistence={d.persistence_mode} "
            f"xid={[(e.code, e.message) for e in d.xid_events]} lost={d.lost} errors={d.errors}"
        )


def _load(seconds: float, started: threading.Event) -> None:
    """Matrix multiplies on GPU 0 for ``seconds`` (bf16, 8192²), so the readings have something to show."""
    try:
        import torch
    except ImportError:
        started.set()
        return
    if not torch.cuda.is_available():
        started.set()
        return
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    end = time.time() + seconds
    started.set()
    while time.time() < end:
        for _ in range(20):
            a = (a @ b).clamp_(-1, 1)
        torch.cuda.synchronize()


def collector_section(load_seconds: float) -> None:
    from fleetproof.agent.collectors.nvidia import NvidiaCollector

    c = NvidiaCollector()
    print(f"== NvidiaCollector.available(): {c.available()}")
    if not c.available():
        return
    try:
        _collector_report("at rest", c.collect())
        started = threading.Event()
        t = threading.Thread(target=_load, args=(load_seconds, started), daemon=True)
        t.start()
        started.wait(60)
        time.sleep(min(3.0, load_seconds / 2))
        _collector_report("under matrix-multiply load", c.collect())
        t.join()
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            c.collect()
            times.append((time.perf_counter() - t0) * 1000)
        med, top = statistics.median(times), max(times)
        print(f"== one collection: median {med:.2f} ms, max {top:.2f} ms (20 rounds)")
    finally:
        c.close()


def _run(cmd: list[str], out: Path | None = None) -> int:
    print(f"== {' '.join(cmd[2:])}")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=os.environ)
    if out is not None:
        out.write_text(p.stdout)
        print(f"   (stdout, {len(p.stdout)} bytes, written to {out})")
    else:
        print(p.stdout.rstrip())
    if p.stderr.strip():
        print("   stderr: " + p.stderr.strip().replace("\n", "\n   stderr: "))
    print(f"   exit status {p.returncode}")
    return p.returncode


def agent_sections(out: Path, backend: str) -> None:
    py = [sys.executable, "-m", "fleetproof"]
    _run([*py, "agent", "scan", "--backend", backend])
    _run([*py, "agent", "scan", "--backend", backend, "--json"], out / "scan.json")
    with tempfile.TemporaryDirectory(prefix="fleetproof-hw-") as tmp:
        _agent_run(out, backend, Path(tmp), py)


def _agent_run(out: Path, backend: str, state: Path, py: list[str]) -> None:
    config = state / "agent.toml"
    with socket.socket() as s:  # a free port on loopback for the exporter
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config.write_text(
        f'backend = "{backend}"\nlisten = "127.0.0.1:{port}"\ninterval_s = 2.0\nstate_dir = "{state}"\n',
        encoding="utf-8",
    )
    print(f"== agent run --rounds 5 (exporter on 127.0.0.1:{port}, no server)")
    proc = subprocess.Popen(
        [*py, "agent", "run", "--config", str(config), "--rounds", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    body = ""
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not body:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                continue
        time.sleep(2.5)  # a later round, so counters have a previous value
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                body = r.read().decode()
        except OSError:
            pass  # the agent finished its rounds first: the earlier scrape stands
    finally:
        log, _ = proc.communicate(timeout=60)
    (out / "metrics.txt").write_text(body)
    lines = [ln for ln in body.splitlines() if ln and not ln.startswith("#")]
    print(f"   /metrics: {len(lines)} samples, written to {out / 'metrics.txt'}; the accelerator's:")
    for ln in lines:
        if "accelerator" in ln or "gpu" in ln.lower():
            print("   " + ln)
    print("   agent log: " + log.strip().replace("\n", "\n   agent log: "))
    print(f"   exit status {proc.returncode}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "hardware-run")))
    ap.add_argument("--load-seconds", type=float, default=8.0)
    ap.add_argument("--backend", default="nvidia", help="for the agent sections (simulated: a dry run)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    print(f"== python {sys.version.split()[0]}, cwd {ROOT}")
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,pci.bus_id,temperature.gpu,power.draw",
             "--format=csv"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        print("== nvidia-smi (for comparison)\n" + smi.stdout.rstrip())
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"== nvidia-smi: {exc}")
    collector_section(a.load_seconds)
    agent_sections(a.out, a.backend)


if __name__ == "__main__":
    main()
