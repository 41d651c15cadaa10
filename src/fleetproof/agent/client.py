"""The agent's HTTP transport to the fleet server, and enrollment.

:class:`HttpTransport` implements :class:`fleetproof.agent.transport.Transport`:
it posts outbox items in batches to ``/api/v1/ingest``, each request signed with the
device key (see :mod:`fleetproof.server.reqsign`: Ed25519 over method, path, time,
nonce and body hash). Answers map onto the outbox's retry policy: 2xx accepted
(items the server refused for good are logged, since retrying cannot help), 413
splits the batch, other 4xx are permanent, 401/403, 5xx and network errors are
retried with the outbox's backoff.

Enrollment (:func:`enroll`) generates the device key if there is none, registers its
public key with a one-time token and keeps the answer in ``server.json`` in the
agent's state directory, beside ``device.key`` (0600) and ``device.key.pub``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleetproof.agent.config import ENROLLMENT_FILE
from fleetproof.agent.transport import OutboxItem, Transport, TransportError
from fleetproof.errors import ConfigError, UnavailableError
from fleetproof.server.reqsign import sign_request
from fleetproof.wire import InventoryReport

__all__ = [
    "ClientSettings",
    "HttpTransport",
    "Identity",
    "SettingsLike",
    "enroll",
    "load_identity",
    "make_transport",
]

log = logging.getLogger("fleetproof.agent.client")
IDENTITY_FILE = ENROLLMENT_FILE
KEY_FILE = "device.key"


class SettingsLike(Protocol):
    """What the transport needs from the agent's settings (any object with these attributes)."""

    @property
    def state_dir(self) -> str | Path: ...


@dataclass(frozen=True)
class ClientSettings:
    state_dir: str | Path
    server_url: str | None = None  # overrides the URL remembered at enrollment
    timeout_s: float = 15.0
    max_items_per_request: int = 500


@dataclass(frozen=True)
class Identity:
    device_id: str
    server_url: str
    zone: str
    hostname: str | None = None  # the name enrolled under; the agent keeps reporting it


def load_identity(state_dir: str | Path) -> Identity | None:
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


class HttpTransport:
    """Signed batches to the server's ingest route."""

    def __init__(
        self,
        server_url: str,
        device_id: str,
        key: Ed25519PrivateKey,
        *,
        client: httpx.Client | None = None,
        timeout_s: float = 15.0,
        max_items_per_request: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base = server_url.rstrip("/")
        self.device_id = device_id
        self.key = key
        self.client = client or httpx.Client(timeout=timeout_s)
        self.max_items = max(1, max_items_per_request)
        self.clock = clock
        self.rejected: list[dict[str, str]] = []

    def send(self, items: Sequence[OutboxItem]) -> None:
        for start in range(0, len(items), self.max_items):
            self._send(list(items[start : start + self.max_items]))

    def _send(self, items: list[OutboxItem]) -> None:
        if not items:
            return
        body = json.dumps(
            {
                "items": [
                    {"id": i.id, "kind": i.kind, "created_at": i.created_at, "payload": i.payload}
                    for i in items
                ]
            },
            separators=(",", ":"),
            allow_nan=False,
        ).encode()
        path = "/api/v1/ingest"
        headers = sign_request(self.key, self.device_id, "POST", path, body, now=self.clock())
        headers["Content-Type"] = "application/json"
        try:
            response = self.client.post(self.base + path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"server unreachable: {exc}") from exc
        status = response.status_code
        if status == 413 and len(items) > 1:
            half = len(items) // 2
            self._send(items[:half])
            self._send(items[half:])
            return
        if 200 <= status < 300:
            rejected = response.json().get("rejected", [])
            for r in rejected:
                log.warning("server refused item %s: %s", r.get("id"), r.get("error"))
            self.rejected.extend(rejected)
            return
        detail = _detail(response)
        if status in (401, 403, 408, 429) or status >= 500:
            raise TransportError(f"server answered {status}: {detail}", retryable=True)
        raise TransportError(f"server refused the batch ({status}): {detail}", retryable=False)

    def get_landmarks(self) -> list[dict[str, Any]]:
        """The trusted landmarks to probe, from the server."""
        path = "/api/v1/agent/landmarks"
        headers = sign_request(self.key, self.device_id, "GET", path, b"", now=self.clock())
        try:
            response = self.client.get(self.base + path, headers=headers)
        except httpx.HTTPError as exc:
            raise UnavailableError(f"server unreachable: {exc}") from exc
        if response.status_code != 200:
            raise UnavailableError(f"server answered {response.status_code}: {_detail(response)}")
        try:
            result = response.json()
        except ValueError:
            result = None
        if not isinstance(result, list):
            # A proxy's error page, say: as good as no answer.
            raise UnavailableError(
                f"server answered with something other than a landmark list: {response.text[:200]!r}"
            )
        return result


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))[:500]
    except ValueError:
        return response.text[:200]


def make_transport(settings: SettingsLike) -> Transport:
    """The transport for an enrolled agent; ConfigError when it has not been enrolled."""
    from fleetproof.probe.keys import load_private_key

    state_dir = Path(settings.state_dir)
    identity = load_identity(state_dir)
    if identity is None:
        raise ConfigError(
            f"this agent is not enrolled (no {state_dir / IDENTITY_FILE}); run `fleetproof agent enroll`"
        )
    url = getattr(settings, "server_url", None) or identity.server_url
    return HttpTransport(
        url,
        identity.device_id,
        load_private_key(state_dir / KEY_FILE),
        timeout_s=float(getattr(settings, "timeout_s", 15.0)),
        max_items_per_request=int(getattr(settings, "max_items_per_request", 500)),
    )


def enroll(
    server_url: str,
    token: str,
    state_dir: str | Path,
    inventory: InventoryReport,
    *,
    client: httpx.Client | None = None,
) -> Identity:
    """Register this device's key with a one-time token; keep the identity in ``state_dir``."""
    from fleetproof.probe.keys import (
        generate_key,
        load_private_key,
        public_key_b64,
        save_private_key,
        write_atomic,
    )

    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = state / KEY_FILE
    if key_path.exists():
        key = load_private_key(key_path)
    else:
        key = generate_key()
        save_private_key(key, key_path)
    body = {"public_key": public_key_b64(key), "inventory": inventory.model_dump(mode="json")}
    http = client or httpx.Client(timeout=30.0)
    try:
        response = http.post(
            server_url.rstrip("/") + "/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as exc:
        raise UnavailableError(f"cannot reach the server at {server_url}: {exc}") from exc
    if response.status_code != 200:
        raise ConfigError(f"enrollment refused ({response.status_code}): {_detail(response)}")
    answer = response.json()
    identity = Identity(
        device_id=answer["device_id"],
        server_url=server_url.rstrip("/"),
        zone=answer["zone"],
        hostname=inventory.host.hostname,
    )
    write_atomic(state / IDENTITY_FILE, (json.dumps(asdict(identity), indent=1) + "\n").encode(), 0o600)
    return identity
