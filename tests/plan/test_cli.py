"""``fleetproof plan`` end to end: outputs, summary, map — and bad input refused with file and line,
exit status 2, no traceback and nothing written."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

import fleetproof.cli

SITES = (
    "id,lat,lon,zone\ns-fra,50.10,8.67,de\ns-ber,52.50,13.35,de\ns-muc,48.15,11.55,dach\ns-x,49.0,8.2,de\n"
)
LANDMARKS = "id,lat,lon\nfra-1,50.11,8.68\nfra-2,50.12,8.70\nber-1,52.52,13.40\npar-1,48.86,2.35\n"
ZONES = """[
  {"id": "de", "allowed_countries": ["DE"], "description": "Germany"},
  {"id": "dach", "allowed_countries": ["de", "AT", "CH"]}
]
"""

Run = Callable[..., int]


@pytest.fixture
def cli() -> Run:
    return lambda *argv: fleetproof.cli.main([str(a) for a in argv])


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    files = {"sites": SITES, "landmarks": LANDMARKS, "zones": ZONES}
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / f"{name}.{'json' if name == 'zones' else 'csv'}"
        out[name].write_text(text, encoding="utf-8")
    return out


def _args(inputs: dict[str, Path], out: Path, *more: object) -> list[object]:
    return [
        "plan",
        "--sites",
        inputs["sites"],
        "--landmarks",
        inputs["landmarks"],
        "--zones",
        inputs["zones"],
        "--out",
        out,
        "--workers",
        1,
        *more,
    ]


def test_plan_writes_json_summary_and_map(
    cli: Run, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "plan.json"
    assert cli(*_args(inputs, out, "--map", tmp_path / "maps")) == 0
    text = capsys.readouterr().out
    assert "1 of 4 sites provable now, 2 more with 3 added landmarks" in text
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["summary"]["provable_now"] == 1
    assert doc["settings"]["engine"]["tolerance"] == 1
    assert doc["settings"]["candidates"].startswith("bundled metros")
    by_id = {s["site"]: s for s in doc["sites"]}
    assert by_id["s-fra"]["provable"] is True
    assert [lm["landmark"] for lm in by_id["s-fra"]["landmarks"]] == ["fra-1", "fra-2"]
    assert by_id["s-muc"]["added"] == ["munich-de.1", "munich-de.2"]
    assert "border" in by_id["s-x"]["why_not"]
    # The proof's budgets, its joint budget and what a host must measure.
    fra = by_id["s-fra"]
    assert doc["settings"]["min_headroom_ms"] == 0.1
    assert fra["joint_budget_ms"] >= 0.1 and fra["joint_not_proven_ms"] > fra["joint_budget_ms"]
    assert all(lm["headroom_ms"] > 0 for lm in fra["landmarks"])
    assert fra["measure"][:2] == ["fra-1", "fra-2"] and len(fra["measure"]) >= 3
    assert set(by_id["s-muc"]["measure"]) >= {"munich-de.1", "munich-de.2"}
    assert by_id["s-x"]["measure"] == [] and by_id["s-x"]["joint_budget_ms"] is None
    assert "each host must measure" in text and "joint budgets" in text
    svg = ET.parse(tmp_path / "maps" / "plan.svg").getroot()
    assert svg.tag.endswith("svg")
    assert 'data-country="DE"' in (tmp_path / "maps" / "plan.svg").read_text(encoding="utf-8")


def test_min_headroom_beyond_any_proof(
    cli: Run, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asking for more headroom than any deployment gives: nothing is provable, and each site the
    engine proves says why not."""
    out = tmp_path / "plan.json"
    assert cli(*_args(inputs, out, "--min-headroom-ms", "50")) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["summary"]["provable_now"] == 0 and doc["summary"]["provable_with_added"] == 0
    fra = {s["site"]: s for s in doc["sites"]}["s-fra"]
    assert fra["verdict_now"] == "proven" and fra["why_not"].startswith("no headroom: budget")
    assert "no headroom" in capsys.readouterr().out


def test_own_candidates_and_model(cli: Run, inputs: dict[str, Path], tmp_path: Path) -> None:
    cands = tmp_path / "cands.csv"
    cands.write_text("id,lat,lon\nbox-ber,52.51,13.39\n", encoding="utf-8")
    out = tmp_path / "plan.json"
    assert cli(*_args(inputs, out, "--candidates", cands, "--access-ms", "0.05", "--inflation", "1.2")) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["settings"]["delay_model"]["inflation"] == 1.2
    assert {a["candidate"] for a in doc["added_landmarks"]} == {"box-ber"}


BAD = [
    ("sites", "id,lat,lon\ns1,1,1\n", "line 1: missing column(s) zone"),
    ("sites", "id,lat,lon,zone\ns1,91,1,de\n", "line 2: lat out of range"),
    ("sites", "id,lat,lon,zone\ns1,1,1,de\ns1,2,2,de\n", "line 3: duplicate site id 's1'"),
    ("sites", "id,lat,lon,zone\ns1,1,1,\n", "line 2: zone is empty"),
    ("landmarks", "id,lat,lon\nA,abc,1\n", "line 2: lat is not a number"),
    (
        "zones",
        '[\n  {"id": "de", "allowed_countries": ["DE"]},\n  {"id": "de"}\n]\n',
        "line 3: duplicate zone id 'de'",
    ),
    (
        "zones",
        '[\n  {"id": "de",\n   "allowed_countries": "DE"}\n]\n',
        "line 2: zone 'de': allowed_countries",
    ),
    ("zones", '[\n  {"id": "de", "allowed_countries": ["DEU"]}\n]\n', "line 2: zone 'de': not ISO 3166"),
    ("zones", '[\n  {"id": "de",\n', "line 3: not valid JSON"),
    (
        "zones",
        '{"zones": [\n {"id": "r",\n  "allowed_region": '
        '{"type": "Polygon", "coordinates": [[[0,0],[1,0],[0,0]]]}}\n]}',
        "line 2: zone 'r': allowed_region is not a valid polygon (a ring has 3 positions",
    ),
    ("zones", '[\n  {"allowed_countries": ["DE"]}\n]\n', 'line 2: zone has no "id"'),
    ("zones", "[]", "no zones in the file"),
    ("zones", '{"id": "de"}', 'expected a JSON list of zones, or an object with a "zones" list'),
]


@pytest.mark.parametrize(("which", "text", "message"), BAD)
def test_bad_input_names_file_and_line(
    cli: Run,
    inputs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    which: str,
    text: str,
    message: str,
) -> None:
    inputs[which].write_text(text, encoding="utf-8")
    out = tmp_path / "plan.json"
    assert cli(*_args(inputs, out, "--map", tmp_path / "maps")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fleetproof: error: {inputs[which]}")
    assert message in err
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "maps").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--inflation", "0.9", "--inflation must be a number ≥ 1"),
        ("--access-ms", "-1", "--access-ms must be a number ≥ 0"),
        ("--access-ms", "nan", "--access-ms must be a number"),
        ("--budget-step-ms", "0", "--budget-step-ms must be a number > 0"),
        ("--tolerance", "-1", "--tolerance must be between 0 and 10"),
        ("--workers", "0", "--workers must be at least 1"),
        ("--min-headroom-ms", "-0.1", "--min-headroom-ms must be a number ≥ 0"),
        ("--min-headroom-ms", "inf", "--min-headroom-ms must be a number"),
    ],
)
def test_bad_options(
    cli: Run,
    inputs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    message: str,
) -> None:
    out = tmp_path / "plan.json"
    assert cli(*_args(inputs, out), flag, value) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_file_and_unwritable_output(
    cli: Run, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs["sites"].unlink()
    assert cli(*_args(inputs, tmp_path / "plan.json")) == 2
    assert "cannot read file" in capsys.readouterr().err
    inputs["sites"].write_text(SITES, encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    assert cli(*_args(inputs, blocker / "plan.json")) == 2
    assert f"cannot write {blocker / 'plan.json'}" in capsys.readouterr().err
