"""Fixtures of the server tests: a store on each backend, a server context with a fake clock, helpers.

PostgreSQL: ``FLEETPROOF_TEST_POSTGRES_URL`` when set; otherwise a throwaway cluster
is made with Debian's ``initdb``/``pg_ctl`` (run as the ``postgres`` user when we are
root), bound to 127.0.0.1 on a free port, and stopped at the end. Without PostgreSQL
the tests skip, unless ``FLEETPROOF_REQUIRE_POSTGRES=1``, where they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The tests import ``server_helpers`` from this folder (import mode is importlib, so add it by hand).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleetproof.server.config import ServerSettings
from fleetproof.server.context import ServerContext
from fleetproof.server.records_check import check_probe_record
from fleetproof.server.store.db import Database

ADMIN = "test-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(reason: str) -> None:
    if os.environ.get("FLEETPROOF_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required but {reason}")
    pytest.skip(reason)


class PgCluster:
    """A throwaway PostgreSQL cluster (Debian's initdb and pg_ctl) on 127.0.0.1 that can stop and start."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            _missing("no PostgreSQL installed (/usr/lib/postgresql/*/bin/initdb)")
        self.bindir = Path(bins[-1]).parent
        self.root = tempfile.mkdtemp(prefix="fleetproof-pg-")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data, self.port = os.path.join(self.root, "data"), _free_port()
        self.log = os.path.join(self.root, "log")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"
        try:
            self._run(
                str(self.bindir / "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"
            )
            self.start()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(self.root, ignore_errors=True)
            _missing(f"could not start a PostgreSQL cluster: {exc}")

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self.as_user, *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            self.data,
            "-l",
            self.log,
            "-w",
            "-t",
            "60",
            "start",
            "-o",
            opts,
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", self.data, "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URL (no database name) of a PostgreSQL server for the whole session."""
    url = os.environ.get("FLEETPROOF_TEST_POSTGRES_URL")
    if url:
        yield url.rsplit("/", 1)[0]
        return
    cluster = PgCluster()
    try:
        yield cluster.url
    finally:
        cluster.remove()


@pytest.fixture
def own_postgres() -> Iterator[PgCluster]:
    """A cluster of the test's own, which it may stop and start (the shared one must stay up)."""
    if not sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        _missing("no PostgreSQL installed (/usr/lib/postgresql/*/bin/initdb)")
    cluster = PgCluster()
    try:
        yield cluster
    finally:
        cluster.remove()


def fresh_postgres_db(base: str) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fleetproof.db'}"
    return fresh_postgres_db(request.getfixturevalue("postgres_server"))


@dataclass
class FakeClock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_ctx(url: str, clock: Any, **overrides: Any) -> ServerContext:
    settings = ServerSettings(db=url, admin_token=ADMIN, background=False, **overrides)
    db = Database(url)
    db.migrate()
    return ServerContext(settings=settings, db=db, check_record=check_probe_record, clock=clock)


@pytest.fixture
def ctx(db_url: str, clock: FakeClock) -> Iterator[ServerContext]:
    context = make_ctx(db_url, clock)
    yield context
    context.db.dispose()


@pytest.fixture
def client(ctx: ServerContext) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from fleetproof.server.app import create_app

    with TestClient(create_app(ctx), raise_server_exceptions=False) as c:
        yield c
