"""Connecting to the store and keeping its schema current.

SQLite (the default, a file in the data directory) runs in WAL mode with one
writer: every write transaction takes a process-wide lock and ``BEGIN IMMEDIATE``,
so writers queue instead of failing with "database is locked", while readers go
on beside them. PostgreSQL (``postgresql://…``, driven by psycopg 3) needs no such
lock; what must be serialised across server processes (the audit chain, retention)
takes a transaction-scoped advisory lock (:meth:`Database.serialize`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from fleetproof.errors import ConfigError, UnavailableError

__all__ = [
    "Database",
    "NonFiniteNumber",
    "first_start",
    "head_revision",
    "normalise_url",
    "rowcount",
    "strict_json",
]

# Keys of PostgreSQL advisory locks, one per thing serialised across processes.
LOCK_AUDIT = 0x46500001
LOCK_RETENTION = 0x46500002
LOCK_MIGRATE = 0x46500003


class NonFiniteNumber(ValueError):
    """A document for the store holds NaN or Infinity, which JSON (and PostgreSQL) cannot keep."""


def strict_json(obj: Any) -> str:
    """JSON for the store, encoded by pydantic-core (several times faster than the standard library).

    NaN and Infinity are refused (:class:`NonFiniteNumber`), as PostgreSQL would refuse them;
    the standard library decides whenever those words appear at all (they may sit inside a string).
    """
    text = pydantic_core.to_json(obj, inf_nan_mode="constants")
    if b"NaN" in text or b"Infinity" in text:
        try:  # through plain JSON values, since ``obj`` may hold pydantic models
            return json.dumps(json.loads(text), allow_nan=False, separators=(",", ":"))
        except ValueError as exc:
            raise NonFiniteNumber(str(exc)) from None
    return text.decode()


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``sqlite:///path`` and a bare path, choose the psycopg 3 driver."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise ConfigError(
        f"unsupported database URL {url.split('://')[0]}://…; use sqlite:///PATH or postgresql://"
    )


class Database:
    """An engine, a session factory for reads and a serialised one for writes."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._write_lock = threading.RLock()
        try:
            if self.is_sqlite:
                self.engine = self._sqlite_engine()
            else:
                self.engine = create_engine(
                    self.url,
                    pool_size=pool_size,
                    max_overflow=pool_size,
                    pool_pre_ping=True,
                    json_serializer=strict_json,
                    # An unreachable host fails within seconds (503 with Retry-After), not minutes.
                    connect_args={"connect_timeout": 5},
                )
        except ImportError as exc:  # pragma: no cover - psycopg is a dependency
            raise UnavailableError(f"database driver missing: {exc}") from exc
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _sqlite_engine(self) -> Engine:
        path = make_url(self.url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self.url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=strict_json
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide where transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

        return engine

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; never blocks on writers."""
        with self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        On SQLite the process-wide lock plus ``BEGIN IMMEDIATE`` make this the one writer.
        """
        if not self.is_sqlite:
            with self.sessions() as session, session.begin():
                yield session
            return
        with self._write_lock, self.engine.connect() as conn:
            conn.info["write"] = True
            try:
                with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                    yield session
            finally:
                conn.info.pop("write", None)

    def serialize(self, session: Session, key: int) -> None:
        """Hold a cross-process lock until the session's transaction ends (PostgreSQL only).

        SQLite needs nothing here: its write transactions are already one at a time.
        """
        if not self.is_sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def migrate(self) -> str:
        """Apply every pending Alembic revision; return the head revision."""
        from alembic import command

        config = _alembic_config()
        with self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_MIGRATE})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        return self.current_revision() or ""

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        self.engine.dispose()


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("fleetproof.server") / "migrations"))
    return config


def head_revision() -> str:
    """The newest schema revision this version of the server ships."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_alembic_config()).get_current_head())


def first_start(session: Session) -> float | None:
    """When the store was first set up (Unix s): no agent item the server keeps is older."""
    from fleetproof.server.store.models import ServerMeta

    row = session.get(ServerMeta, "first_start")
    return None if row is None else float(row.value)


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (the typed ``Result`` does not expose it)."""
    return int(getattr(result, "rowcount", 0) or 0)
