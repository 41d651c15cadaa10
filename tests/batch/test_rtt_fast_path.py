"""The bulk RTT parser gives exactly what the careful ``csv``-module reader gives, errors included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleetproof.batch import rtts
from fleetproof.batch.csvio import _rtts_slow, read_rtts
from fleetproof.batch.rtts import parse_fast
from fleetproof.errors import InputError

SPELLINGS = [
    lambda v: f"{v:.3f}",
    lambda v: f"{v:.0f}",
    lambda v: f"{v:.1f}",
    lambda v: repr(v),  # up to 17 significant digits: more than the bulk converter takes
    lambda v: f"{v:e}",  # exponent: float() handles it
    lambda v: f"{v:.2f}".lstrip("0") or "0",  # ".25"
    lambda v: f"{v:.0f}.",  # "12."
    lambda v: f"+{v:.2f}",
    lambda v: f" {v:.2f} ",
    lambda v: f"{v:.12f}",
    lambda v: f"{v:.22f}",  # longer than the bulk converter takes
    lambda v: f"000{v:.4f}",
]


def _random_file(rng: np.random.Generator, grouped: bool) -> tuple[str, list[str]]:
    landmarks = ["A", "b1", "lm-long-name-0001", "日本", "x" * 17, "L99"]
    names = ["t0", "host.example.org", "t10", "t1", "ΣΩ-7", "a" * 30, "n"]
    rows = []
    for t in rng.permutation(len(names)):
        for _ in range(int(rng.integers(1, 12))):
            lm = landmarks[int(rng.integers(len(landmarks)))]
            value = float(rng.choice([0.0, rng.uniform(0, 1), rng.uniform(0, 400), rng.uniform(0, 1e6)]))
            text = SPELLINGS[int(rng.integers(len(SPELLINGS)))](value)
            rows.append(f"{names[t]},{lm},{text}")
    if not grouped:
        rows = [rows[i] for i in rng.permutation(len(rows))]
    return "target,landmark,rtt_ms\n" + "\n".join(rows) + "\n", landmarks


@pytest.mark.parametrize("seed", range(40))
def test_bulk_parse_equals_careful_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    if seed % 3 == 0:  # many small blocks: runs of a target and errors cross block boundaries
        monkeypatch.setattr(rtts, "BLOCK", 1 + seed % 7)
    rng = np.random.default_rng(seed)
    text, landmarks = _random_file(rng, grouped=seed % 2 == 0)
    p = tmp_path / "r.csv"
    p.write_text(text, encoding="utf-8")
    fast = parse_fast(p, p.read_bytes(), landmarks)
    assert fast is not None
    slow = _rtts_slow(p, landmarks)
    assert fast[0] == slow[0]
    for a, b in zip(fast[1:], slow[1:], strict=True):
        assert np.array_equal(a, b)
        assert a.dtype == b.dtype
    # Bit for bit, not merely equal: the converter must round as float() does.
    assert fast[3].tobytes() == slow[3].tobytes()


def test_decimal_conversion_is_exact() -> None:
    rng = np.random.default_rng(7)
    texts = [
        f"{x:.{int(d)}f}" for x, d in zip(rng.uniform(0, 1e4, 3000), rng.integers(0, 12, 3000), strict=True)
    ]
    texts += ["0", "0.0", "1.", ".5", "999999999999999", "0.1", "0.3", "123456.789012345"]
    body = "\n".join(f"t,A,{t}" for t in texts).encode()
    p = Path("mem.csv")
    got = parse_fast(p, b"target,landmark,rtt_ms\n" + body, ["A"])
    assert got is not None
    assert got[3].tolist() == [float(t) for t in texts]


@pytest.mark.parametrize(
    ("rows", "line", "words"),
    [
        (["t1,A,5", "t1,A,-0.5"], 3, "must not be negative"),
        (["t1,A,5", "t1,A,nan"], 3, "must be a finite number"),
        (["t1,A,5", "t1,A,-inf"], 3, "must not be negative"),
        (["t1,A,5", "t1,Q,1", "t1,R,1"], 3, "unknown landmark id 'Q'"),
        (["t1,A,5", ",A,1"], 3, "target is empty"),
    ],
)
def test_bulk_parse_errors_are_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[str], line: int, words: str
) -> None:
    monkeypatch.setattr(rtts, "BLOCK", 2)
    p = tmp_path / "r.csv"
    p.write_text("target,landmark,rtt_ms\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        parse_fast(p, p.read_bytes(), ["A", "B"])
    assert exc.value.line == line and words in exc.value.problem


@pytest.mark.parametrize(
    "body",
    [
        "t1,A,abc",  # not a number: the careful reader names it
        "t1,A,",  # empty
        "t1,A,.",
        "t1,A,5,6",  # too many fields
        "t1,A",  # too few
        '"t1",A,5',  # quoted
        "t1,A,5\n\nt2,A,5",  # blank line
        "t1,A,1.2.3",
        "t1,A ,1",  # spaces around an id: the careful reader strips them
        "t1, A,1",
        " t1,A,1",
        "t1 ,A,1",
    ],
)
def test_unusual_shapes_go_to_the_careful_reader(tmp_path: Path, body: str) -> None:
    p = tmp_path / "r.csv"
    p.write_text("target,landmark,rtt_ms\n" + body + "\n", encoding="utf-8")
    assert parse_fast(p, p.read_bytes(), ["A"]) is None


def test_duplicates_keep_the_minimum_and_order_is_first_seen(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("target,landmark,rtt_ms\nb,A,5\na,A,3\nb,B,4\nb,A,2.5\na,A,7\n", encoding="utf-8")
    t = read_rtts(p, ["A", "B"])
    assert t.targets == ["b", "a"]
    assert t.rtt[0].tolist() == [2.5, 4.0]
    assert t.rtt[1, 0] == 3.0 and np.isnan(t.rtt[1, 1])


def test_long_ids_go_to_the_careful_reader(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("target,landmark,rtt_ms\n" + "h" * 40 + ",A,5\n", encoding="utf-8")
    assert parse_fast(p, p.read_bytes(), ["A"]) is None
    assert read_rtts(p, ["A"]).targets == ["h" * 40]


def test_spaces_around_ids_are_stripped_as_the_careful_reader_does(tmp_path: Path) -> None:
    """Before, the bulk parser took " A" for an unknown landmark and " t1" for a target of its own."""
    p = tmp_path / "r.csv"
    p.write_text("target,landmark,rtt_ms\nt1, A,5\n t1,B ,4\n", encoding="utf-8")
    t = read_rtts(p, ["A", "B"])
    assert t.targets == ["t1"] and t.rtt.tolist() == [[5.0, 4.0]]
