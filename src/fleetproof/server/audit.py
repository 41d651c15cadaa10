"""The audit log: append-only and hash-chained.

Every entry's hash covers the previous entry's hash and the entry's canonical JSON
(sorted keys, no spaces), so changing, removing or reordering any entry breaks every
hash after it. Appends are serialised across server processes (an advisory lock on
PostgreSQL, the single writer on SQLite). :func:`verify_chain` walks the log and
names the first broken link; :func:`export` writes it as JSON lines that carry the
hashes, so an exported copy can be checked without the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleetproof.files import atomic_open
from fleetproof.server.store.db import LOCK_AUDIT, Database
from fleetproof.server.store.models import AuditEntry

__all__ = [
    "GENESIS",
    "ChainReport",
    "append",
    "entry_dict",
    "entry_hash",
    "export",
    "iter_entries",
    "verify_chain",
]

GENESIS = "0" * 64
_TAIL = "fleetproof.audit.tail"


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(
    prev_hash: str, seq: int, time_s: float, actor: str, action: str, subject: str, details: Any
) -> str:
    body = {
        "seq": seq,
        "time": time_s,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }
    return hashlib.sha256(prev_hash.encode() + canonical(body)).hexdigest()


def append(
    db: Database,
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
    now: float,
) -> AuditEntry:
    """Add one entry inside the caller's write transaction."""
    if len(subject) > 200:
        raise ValueError("audit subject longer than 200 characters")
    tail: tuple[int, str] | None = session.info.get(_TAIL)
    if tail is None:
        db.serialize(session, LOCK_AUDIT)
        last = session.execute(
            select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
        ).first()
        tail = (last[0], last[1]) if last else (0, GENESIS)
    seq, prev = tail[0] + 1, tail[1]
    # Round-trip through JSON so that the hashed form is exactly what is stored and read back.
    details = json.loads(canonical(details))
    digest = entry_hash(prev, seq, now, actor, action, subject, details)
    entry = AuditEntry(
        seq=seq,
        time=now,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev,
        hash=digest,
    )
    session.add(entry)
    session.info[_TAIL] = (seq, digest)
    return entry


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_broken_seq: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_broken_seq": self.first_broken_seq,
            "problem": self.problem,
        }


def iter_entries(db: Database, *, chunk: int = 2000) -> Iterator[AuditEntry]:
    after = 0
    while True:
        with db.read() as session:
            rows = list(
                session.scalars(
                    select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(chunk)
                )
            )
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def check_entries(entries: Iterator[dict[str, Any]]) -> ChainReport:
    """Check a chain given as dicts (from the store or an export)."""
    prev, expected_seq, count = GENESIS, 1, 0
    for e in entries:
        seq = int(e["seq"])
        if seq != expected_seq:
            return ChainReport(False, count, expected_seq, f"entry {expected_seq} is missing (next is {seq})")
        if e["prev_hash"] != prev:
            return ChainReport(False, count, seq, "prev_hash does not match the previous entry's hash")
        digest = entry_hash(prev, seq, e["time"], e["actor"], e["action"], e["subject"], e["details"])
        if digest != e["hash"]:
            return ChainReport(False, count, seq, "hash does not match the entry's content")
        prev, expected_seq, count = digest, seq + 1, count + 1
    return ChainReport(True, count)


def entry_dict(e: AuditEntry) -> dict[str, Any]:
    """An entry as the plain fields its hash covers: what the export writes and the chain checks read."""
    return {
        "seq": e.seq,
        "time": e.time,
        "actor": e.actor,
        "action": e.action,
        "subject": e.subject,
        "details": e.details,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def verify_chain(db: Database) -> ChainReport:
    return check_entries(entry_dict(e) for e in iter_entries(db))


def export(db: Database, out: Path) -> int:
    """Write the log as JSON lines to ``out`` (atomically); return the number of entries."""
    count = 0
    with atomic_open(out) as fh:
        for e in iter_entries(db):
            fh.write(json.dumps(entry_dict(e), sort_keys=True) + "\n")
            count += 1
    return count


def entries_page(db: Database, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    with db.read() as session:
        total = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq).offset(offset).limit(limit))
        return total, [entry_dict(e) for e in rows]
