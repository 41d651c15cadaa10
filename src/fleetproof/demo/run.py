"""The demo's foreground: start the fleet, tell the person where to look, report verdicts as they come."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from fleetproof.demo.fleet import DemoFleet, DemoOptions
from fleetproof.demo.scenario import Scenario

__all__ = ["describe_device", "run_demo"]


def _say(text: str) -> None:
    print(text, flush=True)


def describe_device(device: dict[str, Any]) -> str:
    """One line per host: verdict, where the engine puts it, and its accelerators' health."""
    estimate = device.get("estimate") or {}
    where = ""
    if estimate.get("lat") is not None:
        where = f" near {estimate['lat']:.1f}, {estimate['lon']:.1f}"
        if estimate.get("radius_km") is not None:
            where += f" ±{estimate['radius_km']:.0f} km"
        if estimate.get("country"):
            where += f" ({estimate['country']})"
    flag = ", suspicious" if device.get("suspicious") else ""
    verdict = device.get("verdict") or "awaiting measurements"
    health = device.get("health")
    return f"{device['id']:<14} zone {device.get('zone')!s:<11} {verdict}{flag}{where}; health {health}"


def run_demo(
    scenario: Scenario,
    options: DemoOptions,
    *,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = _say,
) -> int:
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    started = time.monotonic()
    try:
        with DemoFleet(scenario, options, say=say) as fleet:
            say(
                f"fleetproof demo: {len(scenario.hosts)} hosts, {len(scenario.landmarks)} landmarks, "
                f"{len(scenario.zones)} zones"
            )
            fleet.start()
            say("")
            say(f"Dashboard:   {fleet.dashboard_url}")
            say(f"Admin token: {fleet.token}")
            auth = f"-H 'Authorization: Bearer {fleet.token}'"
            say(f"API:         curl {auth} {fleet.server_url}/api/v1/devices")
            say("Verdicts appear within about 20 seconds. Ctrl-C stops everything.")
            say("")
            _watch(fleet, stop, started, duration_s, say)
            say("stopping…")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _watch(
    fleet: DemoFleet,
    stop: threading.Event,
    started: float,
    duration_s: float | None,
    say: Callable[[str], None],
) -> None:
    seen: dict[str, tuple[Any, ...]] = {}
    while not stop.wait(2.0):
        if duration_s is not None and time.monotonic() - started >= duration_s:
            return
        fleet.check_children()
        try:
            devices = fleet.devices()
        except Exception as exc:  # the server may be busy for a moment; the next poll tells
            print(f"  (device list unavailable: {exc})", file=sys.stderr)
            continue
        for device in devices:
            key = (device.get("verdict"), device.get("suspicious"), device.get("health"))
            if seen.get(device["id"]) != key:
                seen[device["id"]] = key
                say("  " + describe_device(device))
