"""Every bad input named in the contract gives file, line and problem — and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fleetproof.batch.csvio import _rtts_slow, read_claims, read_landmarks, read_rtts
from fleetproof.errors import InputError

LANDMARKS = "id,lat,lon,country\nA,48.86,2.35,FR\nB,52.52,13.40,DE\nC,40.42,-3.70,ES\n"


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


CASES = [
    # (file, content, expected line, expected words)
    ("landmarks.csv", "id,lat\nA,1\n", 1, "missing column"),
    ("landmarks.csv", "", None, "empty"),
    ("landmarks.csv", "id,lat,lon\n", None, "no data rows"),
    ("landmarks.csv", "id,lat,lon\nA,91,0\n", 2, "lat out of range"),
    ("landmarks.csv", "id,lat,lon\nA,0,-181\n", 2, "lon out of range"),
    ("landmarks.csv", "id,lat,lon\nA,abc,0\n", 2, "lat is not a number"),
    ("landmarks.csv", "id,lat,lon\nA,nan,0\n", 2, "finite"),
    ("landmarks.csv", "id,lat,lon\nA,1,1\nB,2,2\nA,3,3\n", 4, "duplicate landmark id 'A'"),
    ("rtts.csv", "target,landmark,rtt_ms\nt1,A,5\nt1,B,abc\n", 3, "rtt_ms is not a number"),
    ("rtts.csv", "target,landmark,rtt_ms\nt1,A,5\nt1,B,-2\n", 3, "negative"),
    ("rtts.csv", "target,landmark,rtt_ms\nt1,A,nan\n", 2, "finite"),
    ("rtts.csv", "target,landmark,rtt_ms\nt1,A,inf\n", 2, "finite"),
    ("rtts.csv", "target,landmark,rtt_ms\nt1,A,5\nt1,Z,5\n", 3, "unknown landmark id 'Z'"),
    ("rtts.csv", "target,landmark,rtt_ms\nt1,A,5\nt1,B\n", 3, "rtt_ms is empty"),
    ("rtts.csv", "target,landmark\nt1,A\n", 1, "missing column"),
    ("rtts.csv", "", None, "empty"),
    ("rtts.csv", "target,landmark,rtt_ms\n,A,5\n", 2, "target is empty"),
    ("mesh.csv", "a,b,rtt_ms\nA,B,5\nA,Q,3\n", 3, "unknown landmark id 'Q'"),
    ("mesh.csv", "a,b,rtt_ms\nA,B,-1\n", 2, "negative"),
    ("claims.csv", "claim,target,lat,lon,country\nc1,t1,,,XX\n", 2, "unknown country code"),
    ("claims.csv", "claim,target,lat,lon,country\nc1,t1,,,\n", 2, "neither lat/lon nor country"),
    ("claims.csv", "claim,target,lat,lon,country\nc1,t1,95,0,\n", 2, "lat out of range"),
    ("claims.csv", "claim,target,lat,lon,country\nc1,t1,1,,\n", 2, "lon is empty"),
    ("claims.csv", "claim,target,lat,lon,country\nc1,t1,1,1,\nc1,t2,2,2,\n", 3, "duplicate claim id 'c1'"),
    ("claims.csv", "claim,target,lat,lon\nc1,t1,1,1\n", 1, "missing column"),
]


@pytest.mark.parametrize(("name", "content", "line", "words"), CASES)
def test_bad_input_is_located(
    tmp_path: Path,
    cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str,
    line: int | None,
    words: str,
) -> None:
    files = {
        "landmarks.csv": LANDMARKS,
        "rtts.csv": "target,landmark,rtt_ms\nt1,A,5\nt1,B,9\nt1,C,12\n",
        "mesh.csv": "a,b,rtt_ms\nA,B,9\nA,C,12\nB,C,20\n",
        "claims.csv": "claim,target,lat,lon,country\nc1,t1,48.8,2.3,\n",
    }
    files[name] = content
    paths = {k: write(tmp_path, k, v) for k, v in files.items()}
    out = tmp_path / "out" / "results.jsonl"
    code = cli(
        "verify",
        "--landmarks",
        paths["landmarks.csv"],
        "--rtts",
        paths["rtts.csv"],
        "--mesh",
        paths["mesh.csv"],
        "--claims",
        paths["claims.csv"],
        "--out",
        out,
        "--landmark-report",
        tmp_path / "out" / "lr.json",
        "--map",
        tmp_path / "out" / "maps",
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    where = f"{paths[name]}, line {line}:" if line is not None else f"{paths[name]}:"
    assert where in err, err
    assert words in err, err
    assert not out.exists()
    assert not (tmp_path / "out" / "lr.json").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.svg"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read file"):
        read_landmarks(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="cannot read file"):
        read_rtts(tmp_path / "nope.csv", ["A"])


def test_fast_and_careful_rtt_readers_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lines = ["target,landmark,rtt_ms"]
    for t in range(50):
        for lm in "ABC":
            for _ in range(2):  # duplicates: the minimum wins
                lines.append(f"t{t % 17},{lm},{rng.uniform(0, 200):.4f}")
    p = write(tmp_path, "r.csv", "\n".join(lines) + "\n")
    fast = read_rtts(p, ["A", "B", "C"])
    targets, ti, li, vals = _rtts_slow(p, ["A", "B", "C"])
    slow = np.full((len(targets), 3), np.inf)
    np.minimum.at(slow, (ti, li), vals)
    assert fast.targets == targets
    assert np.array_equal(fast.rtt, slow)
    # CRLF, a quoted field and spaces take the careful path and give the same table.
    p2 = write(
        tmp_path,
        "r2.csv",
        "\r\n".join(lines[:1] + [f'"{x.split(",")[0]}",{x.split(",", 1)[1]}' for x in lines[1:]]),
    )
    assert np.array_equal(read_rtts(p2, ["A", "B", "C"]).rtt, fast.rtt)


def test_claim_kinds(tmp_path: Path) -> None:
    p = write(tmp_path, "c.csv", "claim,target,lat,lon,country\na,t,1,2,FR\nb,t,,,de; at\nc,t,,,zone1\n")
    region = {
        "type": "Feature",
        "properties": {"name": "zone1"},
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
    }
    a, b, c = read_claims(p, ["FR", "DE", "AT"], {"zone1": region})
    assert a.kind == "point" and (a.lat, a.lon) == (1.0, 2.0)  # both given: a point claim
    assert b.kind == "countries" and b.countries == ("DE", "AT")
    assert c.kind == "region" and c.region_name == "zone1"


def test_fast_rtt_parse_locates_errors_late_in_a_file(tmp_path: Path) -> None:
    lines = ["target,landmark,rtt_ms"] + [
        f"t{i % 37},{'ABC'[i % 3]},{(i * 7919) % 1000 / 10}" for i in range(3000)
    ]
    lines[2500] = "t1,Z,3"
    bad = write(tmp_path, "bad.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError) as exc:
        read_rtts(bad, ["A", "B", "C"])
    assert exc.value.line == 2501 and "unknown landmark id 'Z'" in exc.value.problem
