"""Landmark position statements: signed by the landmark's own key, any change breaks them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import fleetproof.cli
from fleetproof.probe.keys import generate_key, public_key_b64, save_private_key
from fleetproof.probe.statement import (
    PositionStatement,
    StatementError,
    read_statement,
    sign_statement,
    statement_bytes,
    verify_statement,
)


def test_a_signed_statement_verifies_and_round_trips(tmp_path: Path) -> None:
    key = generate_key()
    st = sign_statement(key, landmark_id="fra", lat=50.11, lon=8.68, time=1_800_000_000.0)
    verify_statement(st, public_key=public_key_b64(key), landmark_id="fra", lat=50.11, lon=8.68)
    again = PositionStatement.model_validate_json(st.model_dump_json())
    assert again == st and statement_bytes(again) == statement_bytes(st)
    assert statement_bytes(st).startswith(b"fleetproof/landmark-position/v1\n{")


@pytest.mark.parametrize(
    ("field", "value"),
    [("lat", 50.12), ("lon", -8.68), ("landmark_id", "par"), ("time", 1_800_000_001.0)],
)
def test_any_changed_field_breaks_the_signature(field: str, value: object) -> None:
    st = sign_statement(generate_key(), landmark_id="fra", lat=50.11, lon=8.68, time=1_800_000_000.0)
    with pytest.raises(StatementError, match="does not verify"):
        verify_statement(st.model_copy(update={field: value}))


def test_a_statement_under_another_key_or_for_another_place_is_refused() -> None:
    key, other = generate_key(), generate_key()
    st = sign_statement(key, landmark_id="fra", lat=50.11, lon=8.68, time=1.0)
    # Re-labelled with another key: the signature no longer matches the stated key.
    with pytest.raises(StatementError, match="does not verify"):
        verify_statement(st.model_copy(update={"public_key": public_key_b64(other)}))
    with pytest.raises(StatementError, match="signed by another key"):
        verify_statement(st, public_key=public_key_b64(other))
    with pytest.raises(StatementError, match="not 'par'"):
        verify_statement(st, landmark_id="par")
    with pytest.raises(StatementError, match=r"gives lat 50\.11, not 51\.0"):
        verify_statement(st, lat=51.0)


def test_signature_must_be_canonical_base64() -> None:
    st = sign_statement(generate_key(), landmark_id="fra", lat=1.0, lon=2.0, time=1.0)
    with pytest.raises(StatementError, match="not valid base64"):
        verify_statement(st.model_copy(update={"signature": "!!!"}))
    with pytest.raises(StatementError, match="not 64 bytes"):
        verify_statement(st.model_copy(update={"signature": ""}))
    # The last base64 character carries two unused bits: setting them spells the same bytes differently.
    sig = st.signature
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = sig[:-3] + alphabet[alphabet.index(sig[-3]) | 1] + sig[-2:]
    if twin != sig:
        with pytest.raises(StatementError, match="canonical"):
            verify_statement(st.model_copy(update={"signature": twin}))


def test_cli_writes_a_statement_the_server_would_accept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(fleetproof.cli, "COMMAND_MODULES", ("fleetproof.probe.cli",))
    key = generate_key()
    save_private_key(key, tmp_path / "lm.key")
    args = ["landmark", "statement", "--id", "fra", "--lat", "50.11", "--lon", "8.68"]
    code = fleetproof.cli.main([*args, "--key", str(tmp_path / "lm.key"), "--time", "1800000000"])
    assert code == 0
    printed = PositionStatement.model_validate_json(capsys.readouterr().out)
    out = tmp_path / "st.json"
    assert fleetproof.cli.main([*args, "--key", str(tmp_path / "lm.key"), "--out", str(out)]) == 0
    st = read_statement(out)
    verify_statement(st, public_key=public_key_b64(key), landmark_id="fra", lat=50.11, lon=8.68)
    assert printed.time == 1_800_000_000.0 and st.time != printed.time  # default: now
    # Out of range: a clear error, exit 2, no file.
    bad = [
        *args[:5],
        "95",
        "--lon",
        "8.68",
        "--key",
        str(tmp_path / "lm.key"),
        "--out",
        str(tmp_path / "x.json"),
    ]
    assert fleetproof.cli.main(bad) == 2
    assert "--lat: Input should be less than or equal to 90" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_reading_a_malformed_statement_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "st.json"
    path.write_text(json.dumps({"version": 1, "landmark_id": "x"}))
    with pytest.raises(Exception, match=r"st\.json: not a position statement: lat: Field required"):
        read_statement(path)
