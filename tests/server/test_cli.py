"""``fleetproof server …`` operator commands and ``fleetproof audit …`` on a SQLite store."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from server_helpers import head_revision

import fleetproof.cli
from fleetproof.probe.keys import public_key_b64, save_private_key
from fleetproof.protocol.curve25519 import Ed25519PrivateKey


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    monkeypatch.setattr(fleetproof.cli, "COMMAND_MODULES", ("fleetproof.server.cli",))
    db = f"sqlite:///{tmp_path / 'store.db'}"

    def invoke(*argv: str, store: bool = True) -> tuple[int, str, str]:
        args = list(argv)
        if store:
            args += ["--db", db]
        code = fleetproof.cli.main(args)
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


def test_operator_workflow(run, tmp_path: Path) -> None:
    assert run("server", "migrate")[1].strip() == f"store is at revision {head_revision()}"
    code, out, _ = run(
        "server", "zone", "add", "eu-west", "--country", "de", "--country", "FR", "--site-name", "FRA1"
    )
    assert code == 0 and json.loads(out)["allowed_countries"] == ["DE", "FR"]
    code, _, err = run("server", "zone", "add", "eu-west")
    assert code == 2 and "exists" in err
    code, _, err = run("server", "zone", "add", "eu-south", "--site-lat", "95", "--site-lon", "0")
    assert code == 2 and "site_lat" in err and "Traceback" not in err
    token = json.loads(run("server", "token", "create", "--zone", "eu-west")[1])["token"]
    assert token.startswith("fpe_")
    code, _, err = run("server", "token", "create", "--zone", "nowhere")
    assert code == 2 and "no zone" in err
    key = Ed25519PrivateKey.generate()
    save_private_key(key, tmp_path / "lm.key")
    code, out, _ = run(
        "server",
        "landmark",
        "add",
        "--id",
        "fra-1",
        "--lat",
        "50.11",
        "--lon",
        "8.68",
        "--address",
        "10.0.0.5:7400",
        "--public-key",
        f"@{tmp_path / 'lm.key.pub'}",
    )
    assert code == 0 and json.loads(out)["public_key"] == public_key_b64(key)
    code, _, err = run(
        "server",
        "landmark",
        "add",
        "--id",
        "x",
        "--lat",
        "95",
        "--lon",
        "0",
        "--address",
        "a:1",
        "--public-key",
        public_key_b64(key),
    )
    assert code == 2 and "lat" in err
    assert [z["id"] for z in json.loads(run("server", "zone", "list")[1])] == ["eu-west"]
    assert json.loads(run("server", "landmark", "list")[1])[0]["id"] == "fra-1"
    assert json.loads(run("server", "devices")[1]) == []
    assert json.loads(run("server", "alerts", "--open")[1]) == []
    code, out, _ = run("server", "report", "compliance")
    assert code == 0 and next(csv.reader(io.StringIO(out)))[:3] == ["zone", "device_id", "hostname"]
    out_file = tmp_path / "inv.json"
    assert run("server", "report", "inventory", "--format", "json", "--out", str(out_file))[0] == 0
    assert json.loads(out_file.read_text()) == []
    # Audit: zone, two tokens' worth of admin actions… all chained.
    code, out, _ = run("audit", "verify")
    assert code == 0 and "intact: 3 entries" in out
    export = tmp_path / "audit.jsonl"
    assert run("audit", "export", "--out", str(export))[0] == 0
    assert run("audit", "verify", "--file", str(export), store=False)[0] == 0
    lines = export.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["actor"] = "someone-else"
    lines[1] = json.dumps(entry)
    export.write_text("\n".join(lines) + "\n")
    code, _, err = run("audit", "verify", "--file", str(export), store=False)
    assert code == 1 and "broken at entry 2" in err


def test_server_refuses_to_start_without_an_admin_token(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETPROOF_ADMIN_TOKEN", raising=False)
    code, _, err = run("server", "--listen", "127.0.0.1:1")
    assert code == 2 and "admin token" in err


def test_unreachable_postgres_is_a_clear_error(run) -> None:
    code, _, err = run("server", "migrate", "--db", "postgresql://nobody@127.0.0.1:1/none", store=False)
    assert code == 3 and "cannot reach the store" in err


def test_every_setting_is_documented() -> None:
    from dataclasses import fields

    from fleetproof.server.config import SETTINGS_HELP, ServerSettings

    names = {f.name for f in fields(ServerSettings)}
    assert names == set(SETTINGS_HELP)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = [n for n in names if f"FLEETPROOF_{n.upper()}" not in doc]
    assert missing == []


def test_a_short_admin_token_is_accepted_with_a_warning_and_an_empty_one_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import fleetproof.server.runner as runner

    started: list[object] = []
    monkeypatch.setattr(runner, "serve", lambda settings, log_level="info": started.append(settings) or 0)
    monkeypatch.delenv("FLEETPROOF_ADMIN_TOKEN", raising=False)
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    assert (
        fleetproof.cli.main(["server", "--db", db, "--listen", "127.0.0.1:0", "--admin-token", "short"]) == 0
    )
    assert len(started) == 1
    assert "shorter than 16 characters" in capsys.readouterr().err
    assert fleetproof.cli.main(["server", "--db", db, "--listen", "127.0.0.1:0"]) == 2
    assert "an admin token is required" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["audit", "export", "--out"], ["server", "report", "inventory", "--format", "csv", "--out"]]
)
def test_unwritable_outputs_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    assert fleetproof.cli.main(["server", "migrate", "--db", db]) == 0
    assert fleetproof.cli.main([*argv, str(blocker / "out"), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "fleetproof: error: cannot write" in err and "Traceback" not in err
