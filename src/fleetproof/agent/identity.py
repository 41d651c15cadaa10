"""The agent's enrollment record (``server.json``) and where its device key lives.

Apart from :mod:`fleetproof.agent.client` so that the daemon can ask "is this agent
enrolled?" without loading the HTTP client and the signing library: an agent that is
not enrolled and has no server never signs anything, and the signing library is still
about 1 MB of its resident memory (``cryptography``, used before it, was 8 MB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fleetproof.agent.config import ENROLLMENT_FILE
from fleetproof.errors import ConfigError

__all__ = ["IDENTITY_FILE", "KEY_FILE", "Identity", "load_identity"]

IDENTITY_FILE = ENROLLMENT_FILE
KEY_FILE = "device.key"


@dataclass(frozen=True)
class Identity:
    device_id: str
    server_url: str
    zone: str
    hostname: str | None = None  # the name enrolled under; the agent keeps reporting it


def load_identity(state_dir: str | Path) -> Identity | None:
    """The enrollment record in ``state_dir``, None when there is none; ConfigError when it is damaged."""
    path = Path(state_dir) / IDENTITY_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Identity(
            device_id=data["device_id"],
            server_url=data["server_url"],
            zone=data["zone"],
            hostname=data.get("hostname"),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a valid enrollment record ({exc}); enroll again") from None
