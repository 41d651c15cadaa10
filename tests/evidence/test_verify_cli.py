"""``fleetproof evidence verify``: malformed files, pinned landmark keys, unsigned positions, JSON output."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from test_tamper import run_verify

from fleetproof.probe.keys import public_key_b64
from fleetproof.protocol.curve25519 import Ed25519PrivateKey

Doc = dict[str, Any]


def write(tmp_path: Path, doc: Doc | str, name: str = "b.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def broken_index(doc: Doc) -> Doc:
    doc["verdicts"][0]["basis"]["records"].append(999)
    return doc


def missing_field(doc: Doc) -> Doc:
    del doc["device"]["public_key"]
    return doc


def bad_record(doc: Doc) -> Doc:
    doc["records"][2]["session_id"] = "not hex"
    return doc


def nan_rtt(doc: Doc) -> str:
    return json.dumps(doc).replace('"rtt_ms": ' + json.dumps(doc["mesh"][0]["rtt_ms"]), '"rtt_ms": NaN', 1)


def duplicate_landmark(doc: Doc) -> Doc:
    doc["landmarks"].append({**doc["landmarks"][0], "statements": []})
    return doc


MALFORMED = [
    (
        "not JSON",
        lambda d: '{"format": "fleetproof/evidence-bundle",\n  "version": 1,\n  oops',
        "line 3: not JSON",
    ),
    ("not a bundle", lambda d: json.dumps({"hello": 1}), "not an evidence bundle"),
    ("a list", lambda d: "[1, 2]", "not an evidence bundle"),
    ("future version", lambda d: json.dumps({**d, "version": 7}), "bundle version 7 is not supported"),
    ("dangling index", broken_index, "verdicts.0.basis.records: there is no record 999"),
    ("missing field", missing_field, "device.public_key: Field required"),
    ("malformed record", bad_record, "records.2.session_id"),
    ("NaN", nan_rtt, "malformed bundle: mesh.0.rtt_ms"),
    ("a landmark twice", duplicate_landmark, "listed more than once"),
]


@pytest.mark.parametrize(("what", "spoil", "named"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_file_is_a_clear_error_with_status_2(
    exported: tuple[Doc, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    spoil: Any,
    named: str,
) -> None:
    path = write(tmp_path, spoil(copy.deepcopy(exported[0])))
    code, out = run_verify(path, capsys)
    assert code == 2, f"{what}: {out}"
    assert named in out and str(path) in out
    assert "Traceback" not in out


def test_a_missing_file_is_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_verify(tmp_path / "nope.json", capsys)
    assert code == 2 and "cannot read" in out


def test_landmark_keys_pinned_by_a_directory(
    exported: tuple[Doc, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc, fleet = exported
    rows = ["id,lat,lon,address,public_key"]
    rows += [f"{lm},0,0,127.0.0.1:1,{public_key_b64(key)}" for lm, key in fleet.keys.items()]
    directory = write(tmp_path, "\n".join(rows) + "\n", "DIR.csv")
    bundle = write(tmp_path, doc)
    code, out = run_verify(bundle, capsys, "--landmarks", str(directory))
    assert code == 0, out
    assert "checked          landmark keys: each matched against the directory" in out
    # A directory that names another key for one landmark: that landmark's key is refused.
    rows[3] = rows[3].rsplit(",", 1)[0] + "," + public_key_b64(Ed25519PrivateKey.generate())
    directory.write_text("\n".join(rows) + "\n")
    code, out = run_verify(bundle, capsys, "--landmarks", str(directory))
    assert code == 1 and "the bundle's key differs from the directory's" in out


def test_positions_without_statements_are_refused_unless_allowed(
    exported: tuple[Doc, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(exported[0])
    for lm in doc["landmarks"]:
        if lm["id"] in ("par", "lon"):
            lm["statements"] = []
    path = write(tmp_path, doc)
    code, out = run_verify(path, capsys)
    assert code == 1 and "landmark par's position has no signed statement" in out
    assert "2 landmark(s) without a signed position statement: verdicts using them are not reproduced" in out
    code, out = run_verify(path, capsys, "--allow-unsigned-positions")
    assert code == 0, out
    assert "operator's word  2 landmark(s) without a signed position statement" in out


def test_a_verdict_without_a_basis_is_not_reproduced(
    exported: tuple[Doc, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(exported[0])
    doc["verdicts"][1]["basis"] = None
    code, out = run_verify(write(tmp_path, doc), capsys)
    assert code == 1
    assert "verdicts: 2 of 3 reproduced" in out and "no basis stored with this verdict" in out


def test_a_bundle_without_verdicts_proves_nothing(
    exported: tuple[Doc, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {**copy.deepcopy(exported[0]), "verdicts": []}
    code, out = run_verify(write(tmp_path, doc), capsys)
    assert code == 1 and "the bundle holds no verdicts" in out


def test_json_report(exported: tuple[Doc, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_verify(write(tmp_path, exported[0]), capsys, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert [v["reproduced"] for v in report["verdicts"]] == [True, True, True]
    assert {p["how"] for p in report["parts"]} == {"checked", "recomputed", "operator", "assumed"}
