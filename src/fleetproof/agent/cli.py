"""``fleetproof agent``: ``scan`` (one look, exit status = health) and ``run`` (the daemon).

Cheap to import: collectors, SQLite, the wire dataclasses and the HTTP server are
imported inside the handlers. Other parts add ``agent`` subcommands (``enroll``)
through :func:`agent_subparsers`, which returns the one ``agent`` sub-parser set
whichever module registers first, or by passing registrars to :func:`register`.

Exit status of ``scan``: 0 healthy, 4 degraded, 5 unhealthy (2 and 3 stay the
CLI's "bad input" and "unavailable").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetproof.agent.config import Settings

__all__ = ["EXIT_CODES", "agent_subparsers", "register"]

EXIT_CODES = {"healthy": 0, "initializing": 0, "degraded": 4, "unhealthy": 5}
Registrar = Callable[[Any], None]
_ATTR = "_fleetproof_agent_subparsers"


def agent_subparsers(subparsers: Any) -> Any:
    """The ``agent`` command's sub-parsers, created on first use for this top-level parser."""
    existing = getattr(subparsers, _ATTR, None)
    if existing is None:
        agent = subparsers.add_parser(
            "agent",
            help="host agent: accelerator telemetry, health, local exporters",
            description="The host agent: reads every accelerator, judges its health, serves /metrics and "
            "JSON locally and delivers everything to the fleet server. `agent scan` exits 0 healthy, "
            "4 degraded, 5 unhealthy. See docs/agent.md.",
        )
        sub = agent.add_subparsers(dest="agent_command", metavar="ACTION")
        agent.set_defaults(handler=lambda _args: _usage(agent))
        setattr(subparsers, _ATTR, sub)  # kept on the top-level object itself: no global registry to go stale
        existing = sub
    return existing


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def register(subparsers: Any, extra: Iterable[Registrar] = ()) -> Any:
    """Add ``agent scan`` and ``agent run`` (and any ``extra`` registrars); return the agent sub-parsers."""
    sub = agent_subparsers(subparsers)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", help="backends to read, comma-separated (default: setting `backend`)")
    common.add_argument(
        "--config", help="TOML settings file (default: /etc/fleetproof/agent.toml if present)"
    )
    scan = sub.add_parser(
        "scan",
        parents=[common],
        help="read every accelerator once; print inventory and health",
        description="One look at the host. Exit status: 0 healthy, 4 degraded, 5 unhealthy.",
    )
    scan.add_argument("--json", action="store_true", help="print JSON instead of a table")
    scan.set_defaults(handler=_scan)
    run = sub.add_parser("run", parents=[common], help="run the agent: collect, check, export, deliver")
    run.add_argument(
        "--listen", help="HOST:PORT for /metrics and /v1/* (default 127.0.0.1:9410; '' turns off)"
    )
    run.add_argument("--interval", type=float, help="seconds between collection rounds (default 10)")
    run.add_argument(
        "--state-dir",
        help="directory for the outbox, inventory and enrollment (default: setting `state_dir`)",
    )
    run.add_argument("--rounds", type=int, help="stop after this many rounds (default: run until stopped)")
    run.set_defaults(handler=_run)
    for registrar in (*_optional_registrars(), *extra):
        registrar(sub)
    return sub


def _optional_registrars() -> list[Registrar]:
    """``agent enroll`` from the fleet server part, when that module is present (it is cheap to import)."""
    import importlib
    import importlib.util

    try:
        found = importlib.util.find_spec("fleetproof.agent.enroll_cli") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return []
    module = importlib.import_module("fleetproof.agent.enroll_cli")
    add = getattr(module, "add_enroll_command", None)
    return [add] if callable(add) else []


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    from fleetproof.agent.config import load_settings

    overrides["backend"] = args.backend
    return load_settings(args.config, overrides=overrides)


def _scan(args: argparse.Namespace) -> int:
    import json

    from fleetproof.agent.assemble import assemble_agent

    agent = assemble_agent(_settings(args), keep_state=False)
    hostname = agent.hostname
    try:
        results = agent.round()
    finally:
        agent.close()
    state = agent.state.overall()
    if args.json:
        doc = {
            "state": state,
            "hostname": hostname,
            "health": [r.as_dict() for r in results],
            "inventory": agent.state.inventory.to_dict() if agent.state.inventory else None,
            "telemetry": agent.state.telemetry.to_dict() if agent.state.telemetry else None,
        }
        print(json.dumps(doc, indent=2))
    else:
        _print_table(agent, results, state)
    return EXIT_CODES[state]


def _print_table(agent: Any, results: list[Any], state: str) -> None:
    from fleetproof.protocol.health import severity

    inv = agent.state.inventory
    print(f"host {agent.hostname}: {state}")
    for acc in inv.accelerators if inv else []:
        where = f"bus {acc.bus_id}  driver {acc.driver_version}"
        print(f"  [{acc.index}] {acc.vendor} {acc.model}  {acc.uuid}  {where}")
    if inv is not None and not inv.accelerators:
        print("  no accelerators found")
    for r in sorted(results, key=lambda r: -severity(r.state)):
        where = f" device {r.device_index}" if r.device_index is not None else ""
        print(f"  {r.state:<10} {r.component}{where}: {r.reason}")
        if r.suggested_action and r.state != "healthy":
            print(f"             -> {r.suggested_action}")


def _run(args: argparse.Namespace) -> int:
    from fleetproof.agent.daemon import run_daemon

    settings = _settings(
        args, listen=args.listen, interval_s=args.interval, state_dir=getattr(args, "state_dir", None)
    )
    return run_daemon(settings, rounds=args.rounds)
