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
from fleetproof.extras import command_missing_extra, install_hint

# Modules that add subcommands, in the order they appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "fleetproof.batch.cli",
    "fleetproof.plan.cli",
    "fleetproof.probe.cli",
    "fleetproof.agent.cli",
    "fleetproof.server.cli",
    "fleetproof.evidence.cli",
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
    _add_version_everywhere(parser)
    return parser


def _add_version_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--version`` on every subcommand too (``fleetproof agent run --version``), so whoever reads
    a unit file or a manifest can ask the installed command what it is without rewriting it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in {id(p): p for p in action.choices.values()}.values():
                if not any(isinstance(a, argparse._VersionAction) for a in sub._actions):
                    sub.add_argument(
                        "--version",
                        action="version",
                        version=f"fleetproof {__version__}",
                        help="print fleetproof's version and exit",
                    )
                _add_version_everywhere(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Handlers are stored by ``set_defaults(handler=...)`` and return an int status.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    extra = command_missing_extra(args_list)
    if extra is not None:  # before parsing: even `--help` of a command that cannot run says so
        print(f"fleetproof: error: {install_hint(extra)}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(args_list)
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
