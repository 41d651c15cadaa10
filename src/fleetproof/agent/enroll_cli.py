"""``fleetproof agent enroll --server URL --token T``: register this host with a fleet server.

Added to the ``agent`` command group by :func:`add_enroll_command`. It creates the
device key in the state directory when there is none, sends the public key and a
host inventory with the one-time token, and remembers the device id it is given.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

__all__ = ["add_enroll_command", "host_inventory"]


def add_enroll_command(agent_subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = agent_subparsers.add_parser(
        "enroll",
        help="register this host with a fleet server",
        description="Register this host with a fleet server: creates the device key in the agent's state "
        "directory (once), sends its public key and the host's inventory with the one-time token, and "
        "keeps the device id it is given. Reads the same settings as `agent run` (--config).",
    )
    parser.add_argument(
        "--server", help="server base URL, e.g. https://fleet.example:8470 (default: setting `server_url`)"
    )
    parser.add_argument("--token", help="one-time enrollment token (or FLEETPROOF_ENROLL_TOKEN)")
    parser.add_argument(
        "--state-dir", default=None, help="agent state directory for the key (default: setting `state_dir`)"
    )
    parser.add_argument(
        "--hostname",
        default=None,
        help="name to enroll under (default: setting `hostname`, else this host's)",
    )
    parser.add_argument(
        "--config",
        help="TOML settings file, as for `agent run` (default: /etc/fleetproof/agent.toml if present)",
    )
    parser.set_defaults(handler=_enroll)
    return parser


def host_inventory(hostname: str | None = None) -> Any:
    """A host-only inventory for enrollment (the running agent sends the full one later).

    The host fields are the collector's (:func:`fleetproof.agent.collectors.system.host_inventory`).
    """
    import socket

    from fleetproof.agent.collectors.system import host_inventory as host_fields
    from fleetproof.protocol.wire_plain import HostInventory, InventoryReport, fit

    host = HostInventory(**fit(HostInventory, host_fields(hostname or socket.gethostname() or "unknown")))
    return InventoryReport(time=time.time(), host=host, accelerators=[])


def _enroll(args: argparse.Namespace) -> int:
    from fleetproof.agent.client import enroll
    from fleetproof.agent.config import load_settings
    from fleetproof.errors import ConfigError

    token = args.token or os.environ.get("FLEETPROOF_ENROLL_TOKEN")
    if not token:
        raise ConfigError("an enrollment token is required (--token or FLEETPROOF_ENROLL_TOKEN)")
    # The same settings as `agent run` (file, environment, flags), so the identity lands in the
    # state directory the running agent reads.
    settings = load_settings(getattr(args, "config", None), overrides={"state_dir": args.state_dir})
    server = args.server or settings.server_url
    if not server:
        raise ConfigError("the server's URL is required (--server, or setting server_url)")
    state_dir = str(settings.resolved_state_dir())
    identity = enroll(
        server, token.strip(), state_dir, host_inventory(args.hostname or settings.hostname or None)
    )
    print(f"enrolled as {identity.device_id} in zone {identity.zone}; state in {state_dir}")
    return 0
