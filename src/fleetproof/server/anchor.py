"""Audit anchors: signed checkpoints of the audit chain's head, kept outside the database.

The hash chain (:mod:`fleetproof.server.audit`) shows any change *inside* the chain, but
someone who can write to the database can also cut entries off its end, or rewrite the
chain from some entry on and compute every hash again: the result is a valid chain. A
checkpoint — the number of entries and the newest hash, signed with the server's anchor
key and written somewhere that person cannot write — catches both:

* fewer entries than a checkpoint recorded: entries were removed from the tail;
* the entry a checkpoint names has another hash: the chain was rewritten at or before it
  (the checkpoints before it that still match narrow down where).

The server writes a checkpoint every ``audit_anchor_interval_s`` (a minute by default)
and once more on shutdown: one JSON line
appended to the anchor file (by default beside the SQLite database), and the same line to
the alert webhooks and to syslog when those are configured. ``fleetproof audit verify
--anchor FILE`` checks a store against the newest checkpoint it can verify.
"""

from __future__ import annotations

import base64
import json
import logging
import logging.handlers
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from fleetproof.protocol.curve25519 import Ed25519PrivateKey, Ed25519PublicKey, InvalidSignature
from fleetproof.server.audit import GENESIS, canonical, check_entries, entry_dict, iter_entries
from fleetproof.server.store.db import Database
from fleetproof.server.store.models import AuditEntry

__all__ = [
    "AnchorReport",
    "Anchorer",
    "Checkpoint",
    "anchor_paths",
    "load_or_create_key",
    "read_checkpoints",
    "verify_against_anchor",
]

log = logging.getLogger("fleetproof.server.anchor")
FORMAT = "fleetproof-audit-checkpoint-v1"


@dataclass(frozen=True)
class Checkpoint:
    time: float
    entries: int
    head: str
    public_key: str
    signature: str = ""

    def signed_part(self) -> bytes:
        body = {"format": FORMAT, "time": self.time, "entries": self.entries, "head": self.head}
        return canonical({**body, "public_key": self.public_key})

    def line(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "time": self.time,
                "entries": self.entries,
                "head": self.head,
                "public_key": self.public_key,
                "signature": self.signature,
            },
            sort_keys=True,
        )


def anchor_paths(settings: Any) -> tuple[Path, Path]:
    """(anchor file, anchor key) from the settings, with their defaults filled in.

    Anchor file: ``audit_anchor``, else beside the SQLite database (``DB.audit-anchors.jsonl``),
    else ``audit-anchors.jsonl`` in the data directory. Key: ``audit_anchor_key``, else beside the
    SQLite database (``DB.audit-anchor.key``), else ``audit-anchor.key`` in the data directory.
    """
    data_dir = Path(settings.data_dir).expanduser()
    url = make_url(_url(settings))
    beside = url.drivername.startswith("sqlite") and url.database and url.database != ":memory:"
    anchor = data_dir / "audit-anchors.jsonl"
    key = data_dir / "audit-anchor.key"
    if beside:
        anchor = Path(f"{url.database}.audit-anchors.jsonl")
        key = Path(f"{url.database}.audit-anchor.key")
    return (
        Path(settings.audit_anchor) if settings.audit_anchor else anchor,
        Path(settings.audit_anchor_key) if settings.audit_anchor_key else key,
    )


def _url(settings: Any) -> str:
    from fleetproof.server.store.db import normalise_url

    return normalise_url(settings.database_url())


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The anchor signing key; made (0600, with ``.pub`` beside it) on first use."""
    from fleetproof.probe.keys import generate_key, load_private_key, save_private_key

    if path.exists():
        return load_private_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    save_private_key(key, path)
    log.info("made the audit anchor key %s (keep %s.pub to verify anchors)", path, path)
    return key


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _public_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    from fleetproof.probe.keys import public_key_b64

    return public_key_b64(key)


def head_of(db: Database) -> tuple[int, str]:
    """(number of entries, newest hash) of the chain as stored; (0, GENESIS) when empty."""
    with db.read() as session:
        row = session.execute(
            select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
        ).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def _syslog_handler(target: str) -> logging.Handler:
    """``/dev/log`` (a path) or ``HOST:PORT`` (UDP)."""
    if target.startswith("/"):
        return logging.handlers.SysLogHandler(address=target)
    host, _, port = target.rpartition(":")
    return logging.handlers.SysLogHandler(address=(host or "127.0.0.1", int(port or 514)))


class Anchorer:
    """Writes checkpoints of one store's audit head; a daemon thread while the server runs."""

    def __init__(
        self,
        db: Database,
        path: Path,
        key: Ed25519PrivateKey,
        *,
        interval_s: float = 60.0,
        webhooks: Iterable[str] = (),
        poster: Callable[[str, dict[str, Any]], None] | None = None,
        syslog: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.path = path
        self.key = key
        self.public_key = _public_b64(key)
        self.interval_s = max(1.0, interval_s)
        self.webhooks = list(webhooks)
        self.poster = poster
        self.syslog = _syslog_handler(syslog) if syslog else None
        self.clock = clock
        self.last: tuple[int, str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def checkpoint(self, *, force: bool = False) -> Checkpoint | None:
        """Write a checkpoint if the head moved since the last one (or ``force``); return it."""
        head = head_of(self.db)
        if head == self.last and not force:
            return None
        unsigned = Checkpoint(self.clock(), head[0], head[1], self.public_key)
        cp = Checkpoint(
            unsigned.time,
            unsigned.entries,
            unsigned.head,
            self.public_key,
            _b64(self.key.sign(unsigned.signed_part())),
        )
        line = cp.line()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write of one line in append mode: lines of several processes never interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self.last = head
        self._send_elsewhere(cp, line)
        return cp

    def _send_elsewhere(self, cp: Checkpoint, line: str) -> None:
        if self.syslog is not None:
            self.syslog.emit(logging.LogRecord("fleetproof.audit", logging.INFO, "", 0, line, None, None))
        if self.poster is not None:
            body = {"kind": "audit_checkpoint", **json.loads(line)}
            for url in self.webhooks:
                try:
                    self.poster(url, body)
                except Exception as exc:  # the file is the anchor of record; a webhook is a copy
                    log.warning("audit checkpoint not delivered to %s: %s", url, exc)

    # -- the thread ----------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="fleetproof-audit-anchor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._safe(force=True)  # on shutdown, always
        if self.syslog is not None:
            self.syslog.close()

    def _loop(self) -> None:
        self._safe(force=True)
        while not self._stop.wait(self.interval_s):
            self._safe(force=True)  # every interval, moved or not: the newest time the head was seen

    def _safe(self, *, force: bool = False) -> None:
        try:
            self.checkpoint(force=force)
        except Exception as exc:  # the store down, the disk full: say it once, retry next time
            if not self._failing:
                log.warning("cannot write an audit checkpoint to %s: %s", self.path, exc)
            self._failing = True
        else:
            if self._failing:
                log.info("audit checkpoints written again to %s", self.path)
            self._failing = False


# -- verification ----------------------------------------------------------------


@dataclass(frozen=True)
class AnchorReport:
    ok: bool
    message: str


def read_checkpoints(path: Path, trusted: Ed25519PublicKey) -> list[Checkpoint]:
    """The checkpoints of an anchor file, each signature checked; ValueError names a bad line."""
    from fleetproof.probe.keys import public_key_from_b64

    trusted_b64 = _public_b64(trusted)
    found = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} line")
            cp = Checkpoint(
                float(data["time"]),
                int(data["entries"]),
                str(data["head"]),
                str(data["public_key"]),
                str(data["signature"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a checkpoint ({exc})") from None
        if cp.public_key != trusted_b64:
            raise ValueError(f"{path}:{n}: checkpoint signed with another key than the trusted one")
        try:
            public_key_from_b64(cp.public_key).verify(base64.b64decode(cp.signature), cp.signed_part())
        except (InvalidSignature, ValueError) as exc:
            raise ValueError(
                f"{path}:{n}: checkpoint signature does not verify ({exc or 'forged'})"
            ) from None
        found.append(cp)
    return found


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def verify_against_anchor(db: Database, checkpoints: list[Checkpoint]) -> AnchorReport:
    """Check the stored chain, then that it still holds every checkpointed head."""
    if not checkpoints:
        return AnchorReport(False, "the anchor file holds no checkpoint")
    wanted = {cp.entries for cp in checkpoints}
    hashes: dict[int, str] = {}

    def rows() -> Iterable[dict[str, Any]]:
        for e in iter_entries(db):
            if e.seq in wanted:
                hashes[e.seq] = e.hash
            yield entry_dict(e)

    chain = check_entries(iter(rows()))
    if not chain.ok:
        return AnchorReport(False, f"audit chain broken at entry {chain.first_broken_seq} ({chain.problem})")
    newest = max(checkpoints, key=lambda cp: (cp.entries, cp.time))
    if chain.entries < newest.entries:
        return AnchorReport(
            False,
            f"entries removed from the tail: the store holds {chain.entries} entries, but the "
            f"checkpoint of {_when(newest.time)} recorded {newest.entries}",
        )
    ordered = sorted(checkpoints, key=lambda cp: cp.entries)
    matching = 0
    for cp in ordered:
        if cp.entries == 0:
            continue
        if hashes.get(cp.entries) != cp.head:
            return AnchorReport(
                False,
                f"chain rewritten: entry {cp.entries} differs from the checkpoint of {_when(cp.time)}; "
                f"the change lies in entries {matching + 1}..{cp.entries} (entries up to {matching} "
                "match their checkpoints)",
            )
        matching = cp.entries
    return AnchorReport(
        True,
        f"audit chain intact: {chain.entries} entries; the newest checkpoint "
        f"({_when(newest.time)}, {newest.entries} entries) matches",
    )
