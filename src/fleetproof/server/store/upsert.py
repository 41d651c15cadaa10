"""Insert-or-update of many rows in one statement per chunk, on SQLite and PostgreSQL alike.

Both dialects spell it ``INSERT … ON CONFLICT (keys) DO UPDATE``, but SQLAlchemy builds
it from each dialect's own ``insert``; this picks the one of the session's connection, so
that callers (ingest, the verdict queue, current-state tables) need not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["core_table", "upsert"]

# Rows per statement: one round trip each, well under SQLite's limit on bound parameters.
CHUNK = 500


def core_table(model: Any) -> Table:
    """The Core table of a model: bulk inserts through it skip the ORM's per-row bookkeeping."""
    return cast(Table, model.__table__)


def upsert(session: Session, model: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, replacing non-key columns of rows whose key exists (SQLite and PostgreSQL)."""
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    cols = [c for c in rows[0] if c not in keys]
    for start in range(0, len(rows), CHUNK):
        ins = dialect.insert(core_table(model)).values(list(rows[start : start + CHUNK]))
        session.execute(
            ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in cols})
        )
