"""The ``devices.attestation`` revision goes up and down on each backend and keeps the devices."""

from __future__ import annotations

from importlib import resources
from typing import Any

from server_helpers import enroll, head_revision
from sqlalchemy import inspect, text

REVISION = "0005_attestation"


def _config(conn: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("fleetproof.server") / "migrations"))
    config.attributes["connection"] = conn
    return config


def _previous() -> str:
    from alembic.script import ScriptDirectory

    down = ScriptDirectory.from_config(_config(None)).get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down


def _columns(ctx: Any) -> set[str]:
    return {c["name"] for c in inspect(ctx.db.engine).get_columns("devices")}


def _move(ctx: Any, target: str, up: bool) -> None:
    from alembic import command

    with ctx.db.engine.begin() as conn:
        (command.upgrade if up else command.downgrade)(_config(conn), target)


def test_downgrade_drops_the_column_keeps_the_devices_and_upgrade_brings_it_back(
    client: Any, ctx: Any
) -> None:
    assert ctx.db.current_revision() == head_revision()
    attested = enroll(client, hostname="attested-host", attestor="software")
    plain = enroll(client, hostname="plain-host")
    assert "attestation" in _columns(ctx)

    _move(ctx, _previous(), up=False)
    assert ctx.db.current_revision() == _previous()
    assert "attestation" not in _columns(ctx)
    with ctx.db.engine.connect() as conn:
        ids = set(conn.execute(text("SELECT id FROM devices")).scalars())
    assert ids == {attested.device_id, plain.device_id}

    _move(ctx, "head", up=True)
    assert ctx.db.current_revision() == head_revision()
    assert "attestation" in _columns(ctx)
    with ctx.db.engine.connect() as conn:
        rows = {r[0]: r[1] for r in conn.execute(text("SELECT id, attestation FROM devices"))}
    # What a downgrade dropped is gone: those devices read as enrolled without attestation.
    assert rows == {attested.device_id: None, plain.device_id: None}
    # And the store takes attested enrollments again.
    again = enroll(client, hostname="after-upgrade", attestor="software")
    with ctx.db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT attestation FROM devices WHERE id = :id"), {"id": again.device_id}
        ).scalar_one()
    assert stored is not None and "software" in str(stored)
