"""``python -m fleetproof.server …``: the ``fleetproof server`` command on its own."""

from __future__ import annotations

import argparse
import sys

from fleetproof.errors import FleetproofError
from fleetproof.server.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleetproof.server")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["server", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.handler(args) or 0)
    except FleetproofError as exc:
        print(f"fleetproof: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
