"""``fleetproof agent enroll --server URL --token T``: register this host with a fleet server.

Added to the ``agent`` command group by :func:`add_enroll_command`. It creates the
device key in the state directory when there is none, sends the public key and a
host inventory with the one-time token, and remembers the device id it is given.
With ``--attestor`` (``software`` unless ``none``) it also sends evidence binding the
key, over the SHA-256 of the token as challenge (:mod:`fleetproof.protocol.enroll`).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["add_enroll_command", "attest_with", "host_inventory"]


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
    parser.add_argument(
        "--attestor",
        default="software",
        metavar="NAME",
        help="bind the key with this attestor's evidence: software (default; says it is not hardware), "
        "nvidia (runs nvattest), a registered plugin, or none to send no evidence",
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
    attest = attest_with(getattr(args, "attestor", "software"), token.strip())
    identity = enroll(
        server,
        token.strip(),
        state_dir,
        host_inventory(args.hostname or settings.hostname or None),
        attest=attest,
    )
    attested = "no attestation" if attest is None else f"key attested by {args.attestor}"
    print(f"enrolled as {identity.device_id} in zone {identity.zone} ({attested}); state in {state_dir}")
    return 0


def attest_with(name: str, token: str) -> Callable[[bytes], Mapping[str, Any]] | None:
    """The evidence maker for ``--attestor NAME``, over the enrollment's challenge; None for ``none``.

    Checked before anything is sent, so that an unknown or unavailable attestor costs no token.
    """
    import dataclasses

    from fleetproof.errors import ConfigError, UnavailableError
    from fleetproof.probe.attest import AttestationError, attestor_names, get_attestor
    from fleetproof.protocol.enroll import enrollment_challenge

    if name == "none":
        return None
    try:
        attestor = get_attestor(name)()
    except KeyError:
        known = ", ".join([*attestor_names(), "none"])
        raise ConfigError(f"--attestor: no attestor {name!r}; known: {known}") from None
    if not attestor.available():
        raise UnavailableError(
            f"--attestor {name}: cannot run on this host (its tool or device is missing); "
            "enroll with --attestor software or none"
        )
    challenge = enrollment_challenge(token)

    def attest(public_key: bytes) -> Mapping[str, Any]:
        try:
            return dataclasses.asdict(attestor.attest(public_key, challenge))
        except AttestationError as exc:
            raise UnavailableError(f"--attestor {name}: attestation failed: {exc}") from None

    return attest
