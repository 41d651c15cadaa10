"""Server settings: one table of (name, default, help), documented in docs/operations.md.

A test fails when a setting is missing from the documentation. Values come from
command-line flags, then ``FLEETPROOF_<NAME>`` environment variables, then defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fleetproof.errors import ConfigError

__all__ = ["MAX_WINDOW_ROUNDS", "SETTINGS_HELP", "ServerSettings", "persistence_problem"]


def _default_data_dir() -> str:
    return os.environ.get("FLEETPROOF_DATA_DIR") or str(Path.home() / ".local/share/fleetproof/server")


@dataclass
class ServerSettings:
    db: str = ""
    data_dir: str = field(default_factory=_default_data_dir)
    listen: str = "127.0.0.1:8470"
    admin_token: str = ""
    max_body_bytes: int = 16 * 1024 * 1024
    max_items_per_request: int = 5000
    replay_window_s: float = 300.0
    raw_retention_s: float = 7 * 86400.0
    rollup_bucket_s: float = 300.0
    silent_after_s: float = 900.0
    verdict_window_s: float = 1800.0
    verdict_debounce_s: float = 5.0
    suspicious_min_rounds: int = 3
    suspicious_window_rounds: int = 5
    maintenance_interval_s: float = 30.0
    webhooks: list[str] = field(default_factory=list)
    webhook_max_attempts: int = 10
    background: bool = True
    max_connections: int = 1000
    max_connections_per_source: int = 128
    keepalive_timeout_s: float = 5.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    log_format: str = "text"
    max_body_reads: int = 4
    audit_anchor: str = ""
    audit_anchor_key: str = ""
    audit_anchor_interval_s: float = 60.0
    audit_anchor_syslog: str = ""

    def __post_init__(self) -> None:
        problem = persistence_problem(self.suspicious_min_rounds, self.suspicious_window_rounds)
        if problem:
            raise ConfigError(f"suspicious_min_rounds / suspicious_window_rounds: {problem}")

    def database_url(self) -> str:
        """The store URL: ``--db`` when given, else ``fleetproof.db`` in the data directory."""
        if self.db:
            return self.db
        return f"sqlite:///{Path(self.data_dir).expanduser().resolve() / 'fleetproof.db'}"

    def listen_address(self) -> tuple[str, int]:
        from fleetproof.netaddr import AddressError, parse_host_port

        try:
            return parse_host_port(self.listen)
        except AddressError as exc:
            raise ConfigError(f"--listen: {exc}") from None

    @classmethod
    def from_env(cls, **overrides: Any) -> ServerSettings:
        """Defaults, overridden by ``FLEETPROOF_*`` variables, overridden by non-None ``overrides``."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"FLEETPROOF_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


#: Most rounds a suspicious flag may look back over: each verdict reads that many rows.
MAX_WINDOW_ROUNDS = 100


def persistence_problem(min_rounds: int, window_rounds: int) -> str | None:
    """What is wrong with a "k of the last n rounds" policy, or None when it is usable."""
    if not 1 <= window_rounds <= MAX_WINDOW_ROUNDS:
        return f"the window must be 1 to {MAX_WINDOW_ROUNDS} rounds, not {window_rounds}"
    if not 1 <= min_rounds <= window_rounds:
        return f"the flagged rounds needed must be 1 to the window ({window_rounds}), not {min_rounds}"
    return None


def _convert(name: str, kind: Any, raw: str) -> Any:
    kind = str(kind)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if kind.startswith("list"):
            return [part.strip() for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"FLEETPROOF_{name.upper()}: not a valid {kind}: {raw!r}") from exc
    return raw


SETTINGS_HELP: dict[str, str] = {
    "db": "Store URL: sqlite:///PATH or postgresql://USER@HOST/DB. Default: fleetproof.db in data_dir.",
    "data_dir": "Directory of the default SQLite store.",
    "listen": "HOST:PORT the HTTP server binds to.",
    "admin_token": "Bearer token of the admin API and dashboard (required to start).",
    "max_body_bytes": "Largest accepted request body, bytes; larger answers 413.",
    "max_items_per_request": "Most outbox items in one ingest request.",
    "replay_window_s": "How far a signed agent request's time may be from the server's clock, seconds.",
    "raw_retention_s": "How long raw telemetry is kept before it is downsampled, seconds.",
    "rollup_bucket_s": "Width of a downsampled telemetry bucket, seconds.",
    "silent_after_s": "A host not heard from for this long raises a host_silent alert, seconds.",
    "verdict_window_s": "Measurements younger than this make up a host's current round, seconds.",
    "verdict_debounce_s": "Wait after a host's last measurement before its verdict runs, seconds.",
    "suspicious_min_rounds": "Flagged rounds, of the latest suspicious_window_rounds, that flag the host.",
    "suspicious_window_rounds": "How many of a host's latest rounds the suspicious flag looks back over.",
    "maintenance_interval_s": "Period of the background work (verdicts, alerts, retention), seconds.",
    "webhooks": "Comma-separated URLs that receive alerts as JSON POSTs (retried with backoff).",
    "webhook_max_attempts": "Delivery attempts per alert and webhook before giving up.",
    "background": "Run background work in this process (verdicts, webhooks, retention).",
    "max_connections": "Most open client connections; more get an immediate 503 (fitted to the fd limit).",
    "max_connections_per_source": "Most open connections from one peer address (0: no cap; behind a proxy).",
    "keepalive_timeout_s": "An idle keep-alive connection is closed after this long, seconds.",
    "header_timeout_s": "A request's head must be complete this long after connecting or the last answer, s.",
    "body_timeout_s": "A request's body must be complete this long after its head, seconds.",
    "log_format": "Log lines as text, or json (one object per line: time, level, logger, message).",
    "max_body_reads": "Most agent request bodies read at once before their signature is checked.",
    "audit_anchor": "File of signed audit checkpoints (default: beside the SQLite file, else in data_dir).",
    "audit_anchor_key": "Key that signs audit checkpoints (default: beside the SQLite file, else data_dir).",
    "audit_anchor_interval_s": "How often the audit head is checkpointed (and on shutdown), seconds.",
    "audit_anchor_syslog": "Also send checkpoints to syslog: /dev/log or HOST:PORT (UDP); empty: off.",
}
