"""``fleetproof demo``: start a whole simulated fleet on this machine and show it on the dashboard."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run a whole simulated fleet on this machine (server, landmarks, agents) with its dashboard",
        description=(
            "Starts the server on SQLite in a temporary directory, one landmark daemon per scenario "
            "landmark and one agent per host with simulated accelerators, all on 127.0.0.1, with "
            "delaying relays giving each host the network delays of where the scenario places it. "
            "Stops everything on Ctrl-C or after --duration."
        ),
    )
    demo.add_argument("--scenario", help="scenario JSON file (default: the bundled worldwide fleet)")
    demo.add_argument("--port", type=_port, default=8470, help="dashboard and API port (default 8470)")
    demo.add_argument("--admin-token", default=None, help="admin token (default: a random one, printed)")
    demo.add_argument("--duration", type=_seconds, default=None, help="stop after this many seconds")
    demo.add_argument("--probe-interval", type=_seconds, default=15.0, help="seconds between probe rounds")
    demo.add_argument("--keep-dir", action="store_true", help="keep the temporary directory (logs, database)")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from fleetproof.demo.fleet import DemoOptions
    from fleetproof.demo.run import run_demo
    from fleetproof.demo.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    options = DemoOptions(
        port=args.port,
        admin_token=args.admin_token or "",
        probe_interval_s=args.probe_interval,
        keep_dir=args.keep_dir,
    )
    return run_demo(scenario, options, duration_s=args.duration)
