"""The one ``fleetproof`` command.

Each part contributes its subcommands through a module with a
``register(subparsers)`` function; this file only lists those modules, builds the
parser and turns :class:`~fleetproof.errors.FleetproofError` into a message and an
exit status. Register functions must stay cheap to import: heavy imports (numpy,
FastAPI, vendor SDKs) belong inside the command handlers.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fleetproof import __version__
from fleetproof.errors import FleetproofError

# Modules that add subcommands, in the order they appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "fleetproof.batch.cli",
    "fleetproof.plan.cli",
    "fleetproof.probe.cli",
    "fleetproof.agent.cli",
    "fleetproof.server.cli",
    "fleetproof.demo.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetproof",
        description="Accelerator fleet telemetry and location verification.",
    )
    parser.add_argument("--version", action="version", version=f"fleetproof {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Handlers are stored by ``set_defaults(handler=...)`` and return an int status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except FleetproofError as exc:
        print(f"fleetproof: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fleetproof: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
