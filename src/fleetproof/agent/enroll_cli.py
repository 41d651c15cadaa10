"""``fleetproof agent enroll --server URL --token T``: register this host with a fleet server.

Added to the ``agent`` command group by :func:`add_enroll_command`. It creates the
device key in the state directory when there is none, sends the public key and a
host inventory with the one-time token, and remembers the device id it is given.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["add_enroll_command", "default_state_dir", "host_inventory"]


def default_state_dir() -> str:
    """``$FLEETPROOF_AGENT_STATE_DIR``, else /var/lib/fleetproof/agent for root, else ~/.local/state."""
    env = os.environ.get("FLEETPROOF_AGENT_STATE_DIR")
    if env:
        return env
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/fleetproof/agent"
    return str(Path.home() / ".local/state/fleetproof/agent")


def add_enroll_command(agent_subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = agent_subparsers.add_parser(
        "enroll", help="register this host with a fleet server", description=__doc__
    )
    parser.add_argument("--server", required=True, help="server base URL, e.g. https://fleet.example:8470")
    parser.add_argument("--token", help="one-time enrollment token (or FLEETPROOF_ENROLL_TOKEN)")
    parser.add_argument("--state-dir", default=None, help="agent state directory (key, enrollment record)")
    parser.add_argument("--hostname", default=None, help="name to enroll under (default: this host's name)")
    parser.set_defaults(handler=_enroll)
    return parser


def host_inventory(hostname: str | None = None) -> Any:
    """A host-only inventory for enrollment (the running agent sends the full one later).

    The host fields are the collector's (:func:`fleetproof.agent.collectors.system.host_inventory`).
    """
    import socket

    from fleetproof.agent.collectors.system import host_inventory as host_fields
    from fleetproof.wire import HostInventory, InventoryReport

    host = HostInventory(**host_fields(hostname or socket.gethostname() or "unknown"))
    return InventoryReport(time=time.time(), host=host, accelerators=[])


def _enroll(args: argparse.Namespace) -> int:
    from fleetproof.agent.client import enroll
    from fleetproof.errors import ConfigError

    token = args.token or os.environ.get("FLEETPROOF_ENROLL_TOKEN")
    if not token:
        raise ConfigError("an enrollment token is required (--token or FLEETPROOF_ENROLL_TOKEN)")
    state_dir = args.state_dir or default_state_dir()
    identity = enroll(args.server, token.strip(), state_dir, host_inventory(args.hostname))
    print(f"enrolled as {identity.device_id} in zone {identity.zone}; state in {state_dir}")
    return 0
