"""The agent's HTTP transport to the fleet server, and enrollment.

:class:`HttpTransport` implements :class:`fleetproof.agent.transport.Transport`:
it posts outbox items in batches to ``/api/v1/ingest``, each request signed with the
device key (see :mod:`fleetproof.protocol.reqsign`: Ed25519 over method, path, query, time,
nonce and body hash). Answers map onto the outbox's retry policy: 2xx accepted
(items the server refused for good are logged, since retrying cannot help), 413
splits the batch, other 4xx are permanent, 401/403, 5xx and network errors are
retried with the outbox's backoff.

Enrollment (:func:`enroll`) generates the device key if there is none, registers its
public key with a one-time token and keeps the answer in ``server.json`` in the
agent's state directory, beside ``device.key`` (0600) and ``device.key.pub``.

Requests go through :class:`StdlibClient` (the standard library's ``urllib``) unless a
client is injected: any object with httpx's ``get``/``post`` shape will do, as the tests'
``httpx`` clients do. The agent itself loads no HTTP package: importing ``httpx`` alone
brings its command-line dependencies along (``rich``, ``pygments``, ``click``), about
13 MB of the agent's resident memory.
"""

from __future__ import annotations

import http.client
import json
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fleetproof.agent.identity import IDENTITY_FILE, KEY_FILE, Identity, load_identity
from fleetproof.agent.transport import OutboxItem, Transport, TransportError
from fleetproof.errors import ConfigError, UnavailableError
from fleetproof.protocol.curve25519 import Ed25519PrivateKey
from fleetproof.protocol.reqsign import sign_request
from fleetproof.protocol.wire_plain import InventoryReport

__all__ = [
    "ClientSettings",
    "HttpClient",
    "HttpTransport",
    "Identity",
    "SettingsLike",
    "StdlibClient",
    "enroll",
    "load_identity",
    "make_transport",
]

log = logging.getLogger("fleetproof.agent.client")


class Response(Protocol):
    """What the transport reads of an answer (httpx's ``Response`` has it too)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


class HttpClient(Protocol):
    """The two calls the transport makes (``httpx.Client`` has them too)."""

    def get(self, url: str, *, headers: Mapping[str, str]) -> Response: ...

    def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> Response: ...


@dataclass(frozen=True)
class _Answer:
    status_code: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects come back as answers, as with httpx's default: ``urllib`` would follow a
    POST's 301/302/303 as a GET that carries every header (the request signature, an
    enrollment token) to wherever ``Location`` points, and report that GET's answer."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class StdlibClient:
    """:class:`HttpClient` on ``urllib``: HTTP(S) with certificate checks and the proxy settings of the
    environment; an error status (redirects included) is an answer, a network failure an ``OSError``."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_NoRedirects)

    def get(self, url: str, *, headers: Mapping[str, str]) -> _Answer:
        return self._request("GET", url, None, headers)

    def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> _Answer:
        return self._request("POST", url, content, headers)

    def _request(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> _Answer:
        if not url.lower().startswith(("http://", "https://")):  # urllib would also open file: and ftp:
            raise OSError(f"not an http(s) URL: {url[:100]!r}")
        request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
        try:
            try:
                with self._opener.open(request, timeout=self.timeout_s) as r:
                    return _Answer(r.status, r.read(), dict(r.headers))
            except urllib.error.HTTPError as exc:  # an answer, only not a 2xx one
                with exc:
                    return _Answer(exc.code, exc.read(), dict(exc.headers or {}))
        except http.client.HTTPException as exc:  # a broken answer (its body too): as good as none
            raise OSError(f"{type(exc).__name__}: {exc}") from exc


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a client raises when the server cannot be reached: ``OSError`` (``urllib``'s
    ``URLError`` and timeouts are ones), and httpx's errors where an httpx client was injected."""
    httpx = sys.modules.get("httpx")
    return (OSError,) if httpx is None else (OSError, httpx.HTTPError)


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


class HttpTransport:
    """Signed batches to the server's ingest route."""

    def __init__(
        self,
        server_url: str,
        device_id: str,
        key: Ed25519PrivateKey,
        *,
        client: HttpClient | None = None,
        timeout_s: float = 15.0,
        max_items_per_request: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base = server_url.rstrip("/")
        self.device_id = device_id
        self.key = key
        self.client: HttpClient = client or StdlibClient(timeout_s)
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
        except _network_errors() as exc:
            raise TransportError(f"server unreachable: {exc}") from exc
        status = response.status_code
        if status == 413 and len(items) > 1:
            half = len(items) // 2
            self._send(items[:half])
            self._send(items[half:])
            return
        if 200 <= status < 300:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict) or not isinstance(answer.get("rejected", []), list):
                # A proxy's page, say: the server may never have seen the batch, so it is sent again.
                raise TransportError(
                    f"server answered {status} with something other than an ingest result: "
                    f"{response.text[:200]!r}",
                    retryable=True,
                )
            rejected = [r for r in answer.get("rejected", []) if isinstance(r, dict)]
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
        except _network_errors() as exc:
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


def _detail(response: Response) -> str:
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
    client: HttpClient | None = None,
    attest: Callable[[bytes], Mapping[str, Any]] | None = None,
) -> Identity:
    """Register this device's key with a one-time token; keep the identity in ``state_dir``.

    ``attest`` is given the raw public key and returns the evidence binding it (see
    :mod:`fleetproof.protocol.enroll`), sent as the request's ``attestation``.
    """
    from fleetproof.probe.keys import (
        generate_key,
        load_private_key,
        public_key_b64,
        public_key_bytes,
        save_private_key,
        write_atomic,
    )

    if not token or not token.isprintable() or any(ch.isspace() for ch in token):
        raise ConfigError(
            "the enrollment token must be one word of printable characters (as the server gave it)"
        )
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = state / KEY_FILE
    if key_path.exists():
        key = load_private_key(key_path)
    else:
        key = generate_key()
        save_private_key(key, key_path)
    body: dict[str, Any] = {"public_key": public_key_b64(key), "inventory": inventory.to_dict()}
    if attest is not None:
        body["attestation"] = dict(attest(public_key_bytes(key)))
    http = client or StdlibClient(30.0)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        response = http.post(
            server_url.rstrip("/") + "/api/v1/enroll", content=json.dumps(body).encode(), headers=headers
        )
    except _network_errors() as exc:
        raise UnavailableError(f"cannot reach the server at {server_url}: {exc}") from exc
    if response.status_code != 200:
        raise ConfigError(f"enrollment refused ({response.status_code}): {_detail(response)}")
    try:
        answer = response.json()
        device_id, zone = str(answer["device_id"]), str(answer["zone"])
    except (ValueError, KeyError, TypeError):
        raise UnavailableError(
            f"the server at {server_url} answered the enrollment without a device id and zone: "
            f"{response.text[:200]!r}"
        ) from None
    identity = Identity(
        device_id=device_id, server_url=server_url.rstrip("/"), zone=zone, hostname=inventory.host.hostname
    )
    write_atomic(state / IDENTITY_FILE, (json.dumps(asdict(identity), indent=1) + "\n").encode(), 0o600)
    return identity
