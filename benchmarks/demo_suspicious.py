"""What `fleetproof demo` concludes about each host over N minutes: verdicts, suspicious rounds, proofs.

Runs the real demo (bundled scenario unless --scenario) as a child process on a free port for
--minutes, polling `GET /api/v1/devices` every --poll-s seconds (the host-level `suspicious` flag as
the dashboard shows it), and at the end reads every host's verdict history
(`GET /api/v1/devices/{id}/verdicts`: one entry per judged round, with that round's own `suspicious`
flag and likelihood ratio) and the alerts. Per host it prints: rounds judged; rounds the engine's
per-round test flagged, and of those the rounds that count (a `proven` round never does); rounds after
which the host-level flag (k of the last n) was up, and the share of polls that saw it up;
`suspicious_location` alerts opened (and still open at the end); the verdicts reached (with counts);
and the seconds from the demo's start to the host's first `proven`.

It also prints, per host, how much the emulation adds on top of the scenario's delay model: the
smallest measured RTT to each landmark minus twice the scenario's one-way delay (the jitter, relay
scheduling and the processes' own latency on this machine), the margin a `proven` verdict needs.

    PYTHONPATH=src python benchmarks/demo_suspicious.py --minutes 10 [--json out.json]
    PYTHONPATH=src python benchmarks/demo_suspicious.py --from-json out.json   # the report again
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx

from fleetproof.demo.scenario import Scenario, load_scenario


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(client: httpx.Client) -> list[dict[str, Any]]:
    try:
        answer = client.get("/api/v1/devices")
    except httpx.HTTPError:
        return []
    return list(answer.json()) if answer.status_code == 200 else []


def run(scenario_path: str | None, minutes: float, poll_s: float, probe_interval_s: float) -> dict[str, Any]:
    port, token = _free_port(), "benchmark-demo-token"
    args = [sys.executable, "-m", "fleetproof", "demo", "--port", str(port), "--admin-token", token]
    args += ["--probe-interval", str(probe_interval_s)]
    if scenario_path:
        args += ["--scenario", scenario_path]
    start = time.monotonic()
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    polls: Counter[str] = Counter()
    flagged_polls: Counter[str] = Counter()
    first_proven: dict[str, float] = {}
    up_s: float | None = None
    try:
        while time.monotonic() - start < minutes * 60:
            if process.poll() is not None:
                raise SystemExit(f"the demo stopped early with status {process.returncode}")
            for device in _poll(client):
                if up_s is None:
                    up_s = time.monotonic() - start
                if device.get("verdict") is None:
                    continue
                polls[device["id"]] += 1
                flagged_polls[device["id"]] += bool(device.get("suspicious"))
                if device["verdict"] == "proven":
                    first_proven.setdefault(device["id"], time.monotonic() - start)
            time.sleep(poll_s)
        hosts = {d["id"]: d for d in _poll(client)}
        history = {
            host: list(client.get(f"/api/v1/devices/{host}/verdicts", params={"limit": 1000}).json())
            for host in hosts
        }
        alerts = list(client.get("/api/v1/alerts", params={"limit": 10000}).json())
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        client.close()
    return {
        "minutes": minutes,
        "probe_interval_s": probe_interval_s,
        "fleet_up_s": up_s,
        "hosts": hosts,
        "history": history,
        "alerts": alerts,
        "polls": dict(polls),
        "flagged_polls": dict(flagged_polls),
        "first_proven_s": first_proven,
        "load_average_1min": os.getloadavg()[0],
    }


def _overhead_ms(scenario: Scenario, host_id: str, rounds: list[dict[str, Any]]) -> float | None:
    """Median over landmarks of (smallest measured RTT − 2 × the scenario's one-way delay), ms."""
    host = next((h for h in scenario.hosts if h.id == host_id), None)
    if host is None:
        return None
    best: dict[str, float] = {}
    for r in rounds:
        for lm, rtt in (r.get("evidence") or {}).get("rtts_ms", {}).items():
            best[lm] = min(best.get(lm, float("inf")), float(rtt))
    landmarks = {lm.id: lm for lm in scenario.landmarks}
    extra = sorted(
        rtt - 2 * scenario.delay_ms(host, landmarks[lm]) for lm, rtt in best.items() if lm in landmarks
    )
    return extra[len(extra) // 2] if extra else None


def _persisted(round_: dict[str, Any]) -> dict[str, Any]:
    persisted: dict[str, Any] = (round_.get("evidence") or {}).get("suspicious_persistence") or {}
    return persisted


def report(result: dict[str, Any], scenario: Scenario) -> list[dict[str, Any]]:
    opened = Counter(a["device_id"] for a in result["alerts"] if a["kind"] == "suspicious_location")
    still_open = Counter(
        a["device_id"] for a in result["alerts"] if a["kind"] == "suspicious_location" and a["open"]
    )
    polls, flagged_polls = result["polls"], result["flagged_polls"]
    rows = []
    for host_id in sorted(result["hosts"]):
        rounds = result["history"].get(host_id, [])
        rows.append(
            {
                "host": host_id,
                "rounds": len(rounds),
                "engine_flagged": sum(1 for r in rounds if _persisted(r).get("engine_flagged")),
                "rounds_flagged": sum(1 for r in rounds if r.get("suspicious")),
                "host_flagged": sum(1 for r in rounds if _persisted(r).get("host_flagged")),
                "host_flag_polls": f"{flagged_polls.get(host_id, 0)}/{polls.get(host_id, 0)}",
                "alerts_opened": opened.get(host_id, 0),
                "alerts_open_at_end": still_open.get(host_id, 0),
                "verdicts": dict(Counter(r["verdict"] for r in rounds)),
                "final": result["hosts"][host_id].get("verdict"),
                "first_proven_s": result["first_proven_s"].get(host_id),
                "rtt_overhead_ms": _overhead_ms(scenario, host_id, rounds),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--poll-s", type=float, default=2.0)
    parser.add_argument("--probe-interval", type=float, default=15.0, help="the demo's default: 15 s")
    parser.add_argument("--scenario")
    parser.add_argument("--json", help="also write the raw result here")
    parser.add_argument("--from-json", help="report on a result written by --json instead of running")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as raw:
            result = json.load(raw)
    else:
        result = run(args.scenario, args.minutes, args.poll_s, args.probe_interval)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=1)
    load = result.get("load_average_1min", float("nan"))
    print(
        f"{result['minutes']:g} min, probe interval {result['probe_interval_s']:g} s; fleet answering after "
        f"{result['fleet_up_s'] or float('nan'):.1f} s; load average (1 min) at the end {load:.2f}"
    )
    print(
        "host            rounds engine counted host-rounds host-polls alerts(open) final       "
        "first-proven  rtt+ms  verdicts"
    )
    for row in report(result, scenario):
        proven = "-" if row["first_proven_s"] is None else f"{row['first_proven_s']:.0f} s"
        extra = "-" if row["rtt_overhead_ms"] is None else f"{row['rtt_overhead_ms']:.2f}"
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(row["verdicts"].items()))
        print(
            f"{row['host']:<15} {row['rounds']:>6} {row['engine_flagged']:>6} {row['rounds_flagged']:>7} "
            f"{row['host_flagged']:>11} {row['host_flag_polls']:>10} "
            f"{row['alerts_opened']:>6}({row['alerts_open_at_end']})    {row['final'] or '-':<11} "
            f"{proven:>12} {extra:>7}  {verdicts}"
        )


if __name__ == "__main__":
    main()
