"""One real bundle for the module's tests: a fleet on a SQLite store, judged by the pipeline, exported."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from evidence_fleet import Fleet, build_fleet

from fleetproof.server.config import ServerSettings
from fleetproof.server.context import ServerContext
from fleetproof.server.evidence import export_bundle
from fleetproof.server.records_check import check_probe_record
from fleetproof.server.store.db import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Fleet]]:
    """A bundle of three verdicts for a device in Frankfurt (zone DE/FR), and the fleet behind it."""
    from fastapi.testclient import TestClient

    from fleetproof.server.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'fleetproof.db'}"
    clock = Clock()
    db = Database(url)
    db.migrate()
    settings = ServerSettings(db=url, admin_token="test-admin-token", background=False)
    ctx = ServerContext(settings=settings, db=db, check_record=check_probe_record, clock=clock)
    try:
        with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
            fleet = build_fleet(client, ctx, clock, rounds=3)
        assert fleet.device is not None
        yield export_bundle(db, fleet.device.device_id, now=clock.now), fleet
    finally:
        db.dispose()


@pytest.fixture
def bundle_path(exported: tuple[dict[str, Any], Fleet], tmp_path: Path) -> Path:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(exported[0]))
    return path
