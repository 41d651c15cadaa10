from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fleetproof.batch.output import Progress, atomic_writer


def test_sample_shows_every_outcome(
    tmp_path: Path, cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = cli(
        "verify",
        "--sample",
        "--out",
        out / "results.jsonl",
        "--landmark-report",
        out / "landmarks.json",
        "--map",
        out / "maps",
    )
    assert code == 0
    stdout = capsys.readouterr().out
    assert "verdicts:" in stdout and "quarantined landmark belfast-204" in stdout
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    by_claim = {r["claim"]: r for r in results}
    assert len(by_claim) == 11
    for r in results:
        assert {"claim", "target", "verdict", "suspicious", "estimate", "evidence"} <= set(r)
    assert (
        by_claim["saltlake-home"]["verdict"] == "consistent" and not by_claim["saltlake-home"]["suspicious"]
    )
    assert by_claim["lincoln-us"]["verdict"] == "consistent"
    assert by_claim["brussels-eu-core"]["verdict"] == "proven"
    assert by_claim["lugano-home"]["suspicious"] and by_claim["lugano-home"]["verdict"] == "consistent"
    assert by_claim["riga-says-singapore"]["verdict"] == "violation"
    assert by_claim["nuremberg-says-tokyo"]["verdict"] == "violation"
    assert any(r["suspicious"] and r["verdict"] != "violation" for r in results)
    report = json.loads((out / "landmarks.json").read_text())
    assert [q["id"] for q in report["quarantined"]] == ["belfast-204"]
    assert "belfast-204" not in report["trusted"] and len(report["trusted"]) == 44
    maps = sorted(p.name for p in (out / "maps").glob("*.svg"))
    assert "overview.svg" in maps and len(maps) == 12
    assert (out / "maps" / maps[0]).read_text().startswith("<svg")


def test_sample_excludes_explicit_inputs(
    tmp_path: Path, cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("verify", "--sample", "--landmarks", "x.csv", "--out", tmp_path / "r.jsonl") == 2
    assert "--sample replaces --landmarks" in capsys.readouterr().err
    assert cli("verify", "--out", tmp_path / "r.jsonl") == 2
    assert "give --landmarks and --rtts" in capsys.readouterr().err


def test_without_claims_one_result_per_target(sample: Path, tmp_path: Path, cli: Callable[..., int]) -> None:
    out = tmp_path / "r.jsonl"
    assert (
        cli("verify", "--landmarks", sample / "landmarks.csv", "--rtts", sample / "rtts.csv", "--out", out)
        == 0
    )
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 9 and all(r["claim"] is None and r["verdict"] is None for r in rows)


def test_fail_on_violation(sample: Path, tmp_path: Path, cli: Callable[..., int]) -> None:
    args = [
        "verify",
        "--landmarks",
        sample / "landmarks.csv",
        "--rtts",
        sample / "rtts.csv",
        "--mesh",
        sample / "mesh.csv",
        "--claims",
        sample / "claims.csv",
        "--regions",
        sample / "regions.json",
        "--out",
        tmp_path / "r.jsonl",
    ]
    assert cli(*args, "--fail-on-violation") == 1
    assert (tmp_path / "r.jsonl").exists()  # the results are still written: they are the evidence


def test_progress_bar_draws_only_when_asked_and_slow() -> None:
    t = [0.0]
    stream = io.StringIO()
    p = Progress(1000, stream, force=True, clock=lambda: t[0], delay_s=0.5)
    p.advance(100)
    assert stream.getvalue() == ""  # too early
    t[0] = 1.0
    p.advance(400)
    t[0] = 2.0
    p.advance(500)
    p.close()
    text = stream.getvalue()
    assert "1,000/1,000 targets" in text and "100%" in text and text.endswith("\n")
    quiet = io.StringIO()
    q = Progress(10, quiet, clock=lambda: 99.0)  # not a terminal, not forced
    q.advance(10)
    q.close()
    assert quiet.getvalue() == ""


def test_atomic_writer_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.txt"
    with pytest.raises(RuntimeError), atomic_writer(target) as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list((tmp_path / "sub").iterdir()) == []


def test_parallel_verification_matches_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from fleetproof.batch import parallel
    from fleetproof.geo import Claim, Landmark, Verifier

    lms = [
        Landmark(f"L{i}", lat, lon)
        for i, (lat, lon) in enumerate([(48.9, 2.3), (52.5, 13.4), (40.4, -3.7), (41.9, 12.5)])
    ]
    rng = np.random.default_rng(5)
    rtt = rng.uniform(5, 60, (40, 4))
    claims = [(i, Claim.point(f"c{i}", f"t{i}", 45.0, float(i % 20))) for i in range(40)]
    v = Verifier(lms)
    serial = v.verify_matrix([f"t{i}" for i in range(40)], rtt, claims)
    monkeypatch.setattr(parallel, "SPAN", 8)
    done: list[int] = []
    par = parallel.verify_parallel(v, [f"t{i}" for i in range(40)], rtt, claims, 2, done.append)
    assert [r.to_json() for r in par] == [r.to_json() for r in serial]
    assert sum(done) == 40


def test_claims_for_unmeasured_targets_are_unknown(
    sample: Path, tmp_path: Path, cli: Callable[..., int]
) -> None:
    claims = sample / "claims.csv"
    claims.write_text(claims.read_text() + "ghost-claim,host-nowhere,10,10,\n")
    out = tmp_path / "out"
    args = [
        "verify",
        "--landmarks",
        sample / "landmarks.csv",
        "--rtts",
        sample / "rtts.csv",
        "--mesh",
        sample / "mesh.csv",
        "--claims",
        claims,
        "--regions",
        sample / "regions.json",
        "--out",
        out / "r.jsonl",
        "--map",
        out / "maps",
        "--map-limit",
        "20",
    ]
    assert cli(*args) == 0
    rows = {r["claim"]: r for r in map(json.loads, (out / "r.jsonl").read_text().splitlines())}
    assert rows["ghost-claim"]["verdict"] == "unknown"
    assert rows["ghost-claim"]["estimate"]["lat"] is None
    assert any("host-nowhere" in p.name for p in (out / "maps").glob("*.svg"))


@pytest.mark.parametrize("flag", ["--out", "--landmark-report", "--map"])
def test_unwritable_output_is_a_clear_error_and_leaves_no_results(
    tmp_path: Path, cli: Callable[..., int], capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    outputs = {"--out": tmp_path / "results.jsonl", "--landmark-report": tmp_path / "lr.json"}
    outputs[flag] = blocker / "inside"  # a path through a file: no one can write there, root included
    args = [arg for name, path in outputs.items() for arg in (name, path)]
    assert cli("verify", "--sample", *args) == 2
    err = capsys.readouterr().err
    assert "fleetproof: error: cannot" in err and "a-file" in err
    assert "Traceback" not in err
    assert not (tmp_path / "results.jsonl").exists()


def test_refine_depth_option(tmp_path: Path, cli: Callable[..., int]) -> None:
    """Geneva, 5 km from France, three landmarks 1.5 km away: only refinement shows the FR claim false."""
    (tmp_path / "l.csv").write_text(
        "id,lat,lon\n" + "".join(f"L{i},{46.2044 + 1e-4 * i},6.1432\n" for i in range(3))
    )
    rtt_ms = 1.5 / (199.86 / 2)
    (tmp_path / "r.csv").write_text(
        "target,landmark,rtt_ms\n" + "".join(f"t,L{i},{rtt_ms}\n" for i in range(3))
    )
    (tmp_path / "c.csv").write_text("claim,target,lat,lon,country\nfr,t,,,FR\n")
    verdicts = {}
    for depth in ("0", "3"):
        out = tmp_path / f"out{depth}.jsonl"
        args = [
            "--landmarks",
            tmp_path / "l.csv",
            "--rtts",
            tmp_path / "r.csv",
            "--claims",
            tmp_path / "c.csv",
        ]
        assert cli("verify", *args, "--out", out, "--refine-depth", depth) == 0
        [row] = [json.loads(x) for x in out.read_text().splitlines()]
        verdicts[depth] = (row["verdict"], "refined" in row["evidence"])
    assert verdicts == {"0": ("consistent", False), "3": ("violation", True)}


def test_refine_depth_out_of_range_is_a_clear_error(
    tmp_path: Path, cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("verify", "--sample", "--out", tmp_path / "r.jsonl", "--refine-depth", "9") == 2
    assert "--refine-depth must be between 0 and 6" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()
