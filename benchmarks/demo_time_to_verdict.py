"""How long `fleetproof demo` takes from its start until every host has a verdict.

Runs the real demo (bundled scenario unless --scenario) as a child process on a free port, polls
`GET /api/v1/devices` every 0.25 s, and prints the seconds until the dashboard URL was printed (the
fleet is up), until the first verdict, and until every host had one; then stops the demo with SIGINT.
The baseline in the same run is the time until the server answered at all.

    PYTHONPATH=src python benchmarks/demo_time_to_verdict.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_run(scenario: str | None) -> dict[str, float]:
    port, token = _free_port(), "benchmark-demo-token"
    args = [sys.executable, "-m", "fleetproof", "demo", "--port", str(port), "--admin-token", token]
    if scenario:
        args += ["--scenario", scenario]
    start = time.monotonic()
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    marks: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {token}"}
    try:
        while time.monotonic() - start < 180:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/devices", headers=headers, timeout=2)
            except httpx.HTTPError:
                time.sleep(0.25)
                continue
            marks.setdefault("server_answers_s", time.monotonic() - start)
            devices = answer.json() if answer.status_code == 200 else []
            if devices:
                marks.setdefault("hosts_enrolled_s", time.monotonic() - start)
            judged = [d for d in devices if d.get("verdict")]
            if judged:
                marks.setdefault("first_verdict_s", time.monotonic() - start)
            if devices and len(judged) == len(devices):
                marks["all_verdicts_s"] = time.monotonic() - start
                break
            time.sleep(0.25)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario")
    args = parser.parse_args()
    runs = [one_run(args.scenario) for _ in range(args.runs)]
    print(f"load average (1 min) after the runs: {os.getloadavg()[0]:.2f}")
    for key in ("server_answers_s", "hosts_enrolled_s", "first_verdict_s", "all_verdicts_s"):
        values = [r[key] for r in runs if key in r]
        shown = ", ".join(f"{v:.1f}" for v in values)
        median = f"{statistics.median(values):.1f}" if values else "-"
        print(f"{key:<18} median {median:>6} s   runs: {shown}")


if __name__ == "__main__":
    main()
