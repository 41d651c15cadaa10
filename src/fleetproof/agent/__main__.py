"""``python -m fleetproof.agent scan|run ...``: the agent commands on their own (for hosts and tests)."""

from __future__ import annotations

import argparse
import sys

from fleetproof.agent.cli import register
from fleetproof.errors import FleetproofError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fleetproof-agent")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    register(top)
    args = parser.parse_args(["agent", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.handler(args) or 0)
    except FleetproofError as exc:
        print(f"fleetproof: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
