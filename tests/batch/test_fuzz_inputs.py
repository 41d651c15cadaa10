"""``fleetproof verify`` on mangled inputs: a clear message and no outputs, or a clean success.

Small valid inputs (landmarks, RTTs, a mesh, claims of every kind, a region) are
generated, then one or two mutations are applied to one file: columns dropped,
doubled or reordered, bytes flipped, odd encodings and line ends, strange numbers,
empty files, folders in place of files, broken GeoJSON. Whatever comes in, the
command must either succeed with well-formed results or exit non-zero with a
one-line message that names the file (and the line, where there is one), with no
traceback and no output left behind. Mutations that change nothing a person would
call meaningful (a BOM, CRLF, blank lines, quoting, spaces, column order) must
give exactly the results of the unmutated input.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetproof.batch.csvio import read_landmarks

# (id, lat, lon, country): real places, so that a mesh made from distances vets clean.
CITIES = [
    ("paris", 48.86, 2.35, "FR"),
    ("berlin", 52.52, 13.40, "DE"),
    ("madrid", 40.42, -3.70, "ES"),
    ("london", 51.51, -0.13, "GB"),
    ("rome", 41.90, 12.50, "IT"),
    ("vienna", 48.21, 16.37, "AT"),
    ("warsaw", 52.23, 21.01, "PL"),
    ("amsterdam", 52.37, 4.90, "NL"),
    ("stockholm", 59.33, 18.07, "SE"),
    ("prague", 50.08, 14.44, "CZ"),
]
REGION = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"name": "zone1"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[-5.0, 40.0], [20.0, 40.0], [20.0, 56.0], [-5.0, 56.0], [-5.0, 40.0]]],
            },
        },
        {
            "type": "Feature",
            "properties": {"name": "north"},
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [[[[5.0, 55.0], [25.0, 55.0], [25.0, 65.0], [5.0, 55.0]]]],
            },
        },
    ],
}
RESULT_KEYS = {"claim", "target", "verdict", "suspicious", "estimate", "evidence"}
VERDICTS = {"violation", "proven", "consistent", "unknown", None}
FILES = ("landmarks.csv", "rtts.csv", "mesh.csv", "claims.csv", "regions.json")
DIRECTORY = b"\0directory\0"  # stands for "this path is a folder"
MISSING = b"\0missing\0"  # stands for "this path does not exist"


def _km(a: tuple[str, float, float, str], b: tuple[str, float, float, str]) -> float:
    p1, p2, dl = math.radians(a[1]), math.radians(b[1]), math.radians(b[2] - a[2])
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6371.0 * math.acos(max(-1.0, min(1.0, c)))


def _rtt(km: float, stretch: float) -> str:
    """An RTT that light in fibre could make (100 km/ms one way), stretched by routing."""
    return f"{2 * km / 100.0 * stretch + 0.4:.3f}"


@dataclass
class Inputs:
    files: dict[str, bytes]
    n_claims: int


# Places that test the edges of the map: a pole, both sides of the antimeridian, a twin.
ODD_PLACES = [
    ("north-pole", 90.0, 0.0, ""),
    ("dateline-e", -17.0, 180.0, "FJ"),
    ("dateline-w", -17.0, -180.0, "FJ"),
    ("paris-twin", 48.86, 2.35, "fr"),
]
# Names as people write them: any letters, digits, symbols, inner spaces; no comma or quote.
names = st.text(
    st.characters(categories=("L", "N", "Pd", "Pc", "Po", "S", "Zs"), exclude_characters=',"'),
    min_size=1,
    max_size=40,
).filter(lambda s: s == s.strip())


@st.composite
def valid_inputs(draw: st.DrawFn) -> Inputs:
    """3–6 landmarks, 1–3 measured targets, a consistent mesh, point/country/region claims."""
    picks = draw(st.lists(st.sampled_from(CITIES), min_size=3, max_size=6, unique=True))
    if draw(st.integers(0, 3)) == 0:
        picks.append(draw(st.sampled_from(ODD_PLACES)))
    if draw(st.booleans()):  # other names, the same places
        ids = draw(st.lists(names, min_size=len(picks), max_size=len(picks), unique=True))
        picks = [(i, *p[1:]) for i, p in zip(ids, picks, strict=True)]
    lms = "id,lat,lon,country\n" + "".join(f"{c[0]},{c[1]},{c[2]},{c[3]}\n" for c in picks)
    mesh = "a,b,rtt_ms\n" + "".join(
        f"{a[0]},{b[0]},{_rtt(_km(a, b), draw(st.floats(1.2, 1.8)))}\n"
        for i, a in enumerate(picks)
        for b in picks[i + 1 :]
    )
    n_targets = draw(st.integers(1, 3))
    targets = [f"t{t}" for t in range(n_targets)]
    if draw(st.booleans()):
        targets = draw(st.lists(names, min_size=n_targets, max_size=n_targets, unique=True))
    rtts = "target,landmark,rtt_ms\n"
    homes = []
    for t in targets:
        home = draw(st.sampled_from(picks))
        homes.append(home)
        for lm in draw(st.lists(st.sampled_from(picks), min_size=1, unique=True)):
            rtts += f"{t},{lm[0]},{_rtt(_km(home, lm), draw(st.floats(1.0, 2.0)))}\n"
    claims = ["claim,target,lat,lon,country"]
    for k, (t, home) in enumerate(zip(targets, homes, strict=True)):
        kind = draw(st.sampled_from(["point", "country", "countries", "region", "far"]))
        if kind in ("country", "countries") and not home[3]:
            kind = "point"
        if kind == "point":
            claims.append(f"c{k},{t},{home[1]},{home[2]},")
        elif kind == "country":
            claims.append(f"c{k},{t},,,{home[3]}")
        elif kind == "countries":
            claims.append(f"c{k},{t},,,{home[3]};CH")
        elif kind == "region":
            claims.append(f"c{k},{t},,,zone1")
        else:
            claims.append(f"c{k},{t},-33.9,151.2,")
    claims.append("c-unmeasured,nobody at all,,,north")  # a target without RTTs: verdict unknown
    return Inputs(
        {
            "landmarks.csv": lms.encode(),
            "rtts.csv": rtts.encode(),
            "mesh.csv": mesh.encode(),
            "claims.csv": ("\n".join(claims) + "\n").encode(),
            "regions.json": json.dumps(REGION, indent=1).encode(),
        },
        n_claims=len(claims) - 1,
    )


# --- mutations of CSV text: each returns new bytes ------------------------------------------------


def _csv_lines(data: bytes) -> list[list[str]]:
    return [line.split(",") for line in data.decode().splitlines()]


def _csv_join(rows: list[list[str]], end: str = "\n") -> bytes:
    return (end.join(",".join(r) for r in rows) + end).encode()


def _column_op(op: str, k: int) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        rows = _csv_lines(data)
        j = k % len(rows[0])
        if op == "drop":
            rows = [r[:j] + r[j + 1 :] for r in rows]
        elif op == "double":
            rows = [r[: j + 1] + r[j:] for r in rows]
        elif op == "rename":
            rows[0][j] = rows[0][j] + "x"
        elif op == "blank-header":
            rows[0][j] = ""
        return _csv_join(rows)

    return apply


# Mutations after which the results must be exactly those of the unmutated input.
def _bom(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def _blank_lines(data: bytes) -> bytes:
    head, _, body = data.partition(b"\n")
    return head + b"\n\n" + body.replace(b"\n", b"\n  \n") + b"\n"


def _quote_all(data: bytes) -> bytes:
    return _csv_join([[f'"{f}"' for f in r] for r in _csv_lines(data)])


def _spaces(data: bytes) -> bytes:
    return _csv_join([[f" {f} " if f else f for f in r] for r in _csv_lines(data)])


def _upper_header(data: bytes) -> bytes:
    head, _, body = data.partition(b"\n")
    return head.upper() + b"\n" + body


def _reverse_columns(data: bytes) -> bytes:
    return _csv_join([r[::-1] for r in _csv_lines(data)])


def _extra_column(data: bytes) -> bytes:
    rows = _csv_lines(data)
    return _csv_join([[*rows[0], "note"]] + [[*r, "x y"] for r in rows[1:]])


BENIGN_CSV: dict[str, Callable[[bytes], bytes]] = {
    "bom": _bom,
    "crlf": _crlf,
    "blank-lines": _blank_lines,
    "quote-all": _quote_all,
    "spaces": _spaces,
    "upper-header": _upper_header,
    "reverse-columns": _reverse_columns,
    "extra-column": _extra_column,
}

ODD_NUMBERS = [
    "1e400", "-1e400", "-0", "+5", " 5 ", "0x10", "5ms", "٣", "inf", "-inf", "NaN", "1_0", "", "-",
    "1e-400", "5,5", '"5"', "９", "1.2.3", "\u00a05", "5\u2003", "1" * 400, "-90", "180.0000001",
]  # fmt: skip


def _replace_field(row: int, col: int, text: str) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        rows = _csv_lines(data)
        r = 1 + row % max(len(rows) - 1, 1)
        if r >= len(rows):
            return data
        rows[r][col % len(rows[r])] = text
        return _csv_join(rows)

    return apply


def _bytes_op(op: str, pos: int, byte: int) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        i = pos % (len(data) + 1)
        if op == "flip" and data:
            i = min(i, len(data) - 1)
            return data[:i] + bytes([data[i] ^ (1 << (byte % 8))]) + data[i + 1 :]
        if op == "insert":
            return data[:i] + bytes([byte]) + data[i:]
        if op == "truncate":
            return data[:i]
        if op == "not-utf8":
            return data[:i] + b"\xff\xc3\x28" + data[i:]
        if op == "delete-line":
            lines = data.split(b"\n")
            del lines[pos % len(lines)]
            return b"\n".join(lines)
        if op == "duplicate-line":
            lines = data.split(b"\n")
            j = pos % len(lines)
            return b"\n".join(lines[: j + 1] + lines[j:])
        return data

    return apply


def _whole(content: bytes) -> Callable[[bytes], bytes]:
    return lambda _data: content


csv_mutations = st.one_of(
    st.builds(_column_op, st.sampled_from(["drop", "double", "rename", "blank-header"]), st.integers(0, 5)),
    st.builds(_replace_field, st.integers(0, 20), st.integers(0, 4), st.sampled_from(ODD_NUMBERS)),
    st.builds(
        _replace_field,
        st.integers(0, 20),
        st.integers(0, 4),
        st.sampled_from(['"a,b"', '"a\nb"', "x" * 200_000, '"unclosed', "a\0b", "é", "\t"]),
    ),
    st.builds(
        _bytes_op,
        st.sampled_from(["flip", "insert", "truncate", "not-utf8", "delete-line", "duplicate-line"]),
        st.integers(0, 10_000),
        st.integers(0, 255),
    ),
    st.sampled_from(
        [_whole(b""), _whole(b"\n\n"), _whole(DIRECTORY), _whole(MISSING), _whole(b"\xef\xbb\xbf")]
    ),
    st.sampled_from([lambda d: d.partition(b"\n")[0] + b"\n", lambda d: d.partition(b"\n")[2]]),
)


# --- mutations of the regions GeoJSON ---------------------------------------------------------------


def _geo(edit: Callable[[dict], object]) -> Callable[[bytes], bytes]:  # type: ignore[type-arg]
    def apply(data: bytes) -> bytes:
        doc = json.loads(data)
        edit(doc)
        return json.dumps(doc, allow_nan=True).encode()

    return apply


def _set_coord(feature: int, value: object) -> Callable[[dict], object]:  # type: ignore[type-arg]
    def edit(doc: dict) -> None:  # type: ignore[type-arg]
        geom = doc["features"][feature]["geometry"]
        ring = geom["coordinates"][0] if geom["type"] == "Polygon" else geom["coordinates"][0][0]
        ring[1] = value

    return edit


def _set(path: tuple[object, ...], value: object) -> Callable[[dict], object]:  # type: ignore[type-arg]
    def edit(doc: dict) -> None:  # type: ignore[type-arg]
        node: object = doc
        for key in path[:-1]:
            node = node[key]  # type: ignore[index]
        node[path[-1]] = value  # type: ignore[index]

    return edit


BAD_POSITIONS = [
    ["a", 40], [None, 40], [True, 40], [10], [], 5, "10,40", [400, 40], [10, 95], [10, -90.5],
    [float("nan"), 40], [10, float("inf")], [10**400, 40], [10, 40, 1, 2], {"lon": 10},
]  # fmt: skip

region_mutations = st.one_of(
    st.builds(_geo, st.builds(_set_coord, st.integers(0, 1), st.sampled_from(BAD_POSITIONS))),
    st.builds(
        _geo,
        st.sampled_from(
            [
                _set(("features", 0, "geometry", "type"), "Point"),
                _set(("features", 0, "geometry", "type"), "LineString"),
                _set(("features", 0, "geometry", "type"), "MultiPolygon"),
                _set(("features", 1, "geometry", "type"), "Polygon"),
                _set(("features", 0, "geometry", "coordinates"), [[[0, 40], [10, 40], [0, 40]]]),
                _set(("features", 0, "geometry", "coordinates"), [[]]),
                _set(("features", 0, "geometry", "coordinates"), []),
                _set(("features", 0, "geometry", "coordinates"), None),
                _set(("features", 0, "geometry", "coordinates"), "x"),
                _set(("features", 0, "geometry"), None),
                _set(("features", 0, "geometry"), {"type": "GeometryCollection", "geometries": 5}),
                _set(("features", 0, "properties"), [1]),
                _set(("features", 0, "properties"), None),
                _set(("features", 0, "properties", "name"), 7),
                _set(("features", 0, "properties", "name"), ""),
                _set(("features", 1, "properties", "name"), "zone1"),
                _set(("features", 0), "feature"),
                _set(("features",), {"a": 1}),
                _set(("type",), "Feature"),
                # Valid changes: a 3-D position, a ring left open (closed automatically).
                _set(
                    ("features", 0, "geometry", "coordinates"),
                    [[[-5, 40, 1], [20, 40, 2], [20, 56, 3], [-5, 56, 4]]],
                ),
            ]
        ),
    ),
    st.builds(
        _bytes_op, st.sampled_from(["flip", "truncate", "not-utf8"]), st.integers(0, 600), st.integers(0, 255)
    ),
    st.sampled_from(
        [
            _whole(b""),
            _whole(b"[]"),
            _whole(b"null"),
            _whole(b"[" * 5000 + b"]" * 5000),
            _whole(DIRECTORY),
            _whole(MISSING),
            _bom,
            _crlf,
        ]
    ),
)


# --- running and checking ---------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    out: str
    err: str
    results: list[dict[str, object]] | None
    paths: dict[str, Path]


def _verify(
    cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    base: Path,
    files: dict[str, bytes],
    maps: bool = False,
    map_limit: int = 1,
) -> Run:
    base.mkdir(parents=True, exist_ok=True)
    paths = {name: base / name for name in files}
    for name, content in files.items():
        if content == DIRECTORY:
            paths[name].mkdir()
        elif content != MISSING:
            paths[name].write_bytes(content)
    out = base / "out"
    argv: list[object] = ["verify", "--landmarks", paths["landmarks.csv"], "--rtts", paths["rtts.csv"]]
    for flag, name in (("--mesh", "mesh.csv"), ("--claims", "claims.csv"), ("--regions", "regions.json")):
        if name in paths:
            argv += [flag, paths[name]]
    argv += ["--out", out / "results.jsonl", "--landmark-report", out / "lr.json", "--workers", "1"]
    if maps:
        argv += ["--map", out / "maps", "--map-limit", map_limit]
    code = cli(*argv)
    captured = capsys.readouterr()
    results = None
    if code == 0:
        lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
        results = [json.loads(line) for line in lines]
    return Run(code, captured.out, captured.err, results, paths)


# Problems that sit on one line of a file: the message must say which.
ON_A_LINE = re.compile(
    r"not a number|out of range|must be|must not|unknown|duplicate|is empty|fields, header has|"
    r"malformed CSV|missing column|more than once|not UTF-8|not valid JSON|neither lat/lon"
)

ON_A_JSON_LINE = re.compile(r"not UTF-8|not valid JSON: (?!nested)")


def _check(run: Run, out: Path) -> None:
    """The contract, whichever way it went."""
    assert "Traceback" not in run.err and "Traceback" not in run.out
    if run.code == 0:
        assert run.results is not None and run.results
        for r in run.results:
            assert isinstance(r, dict) and set(r) >= RESULT_KEYS, r
            assert r["verdict"] in VERDICTS and isinstance(r["suspicious"], bool)
        assert (out / "lr.json").is_file()
        return
    assert run.code == 2, (run.code, run.err)
    assert not out.exists(), sorted(str(p) for p in out.rglob("*"))
    message = run.err.strip()
    assert message.startswith("fleetproof: error: ") and "\n" not in message, message
    named = [name for name, p in run.paths.items() if str(p) in message]
    assert named, f"no input file named in {message!r}"
    m = re.search(r", line (\d+): ", message)
    # A CSV problem is on a line; so is broken JSON, while a bad region is named by its feature.
    on_a_line = ON_A_LINE if named[0].endswith(".csv") else ON_A_JSON_LINE
    if on_a_line.search(message) and not message.endswith("file is empty"):
        assert m is not None, f"no line in {message!r}"
    if m is not None:  # the line is one the named file has
        where = run.paths[named[0]]
        content = where.read_bytes() if where.is_file() else b""
        assert 1 <= int(m.group(1)) <= content.count(b"\n") + content.count(b"\r") + 1, message


#: Examples per test are multiplied by this (``FLEETPROOF_FUZZ_SCALE=20`` for a long hunt, with a fresh seed).
SCALE = int(os.environ.get("FLEETPROOF_FUZZ_SCALE", "1"))


def _fuzz(examples: int) -> settings:
    """About 150 examples across the file by default: the whole file takes seconds."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder for all examples of one test (hypothesis runs many examples per tmp_path)."""
    d = Path(tempfile.mkdtemp(prefix="fleetproof-fuzz-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _example(scratch: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=scratch))


@_fuzz(25)
@given(inputs=valid_inputs(), maps=st.sampled_from([False, False, False, True]))
def test_valid_inputs_succeed(
    cli: Callable[..., int], capsys: pytest.CaptureFixture[str], scratch: Path, inputs: Inputs, maps: bool
) -> None:
    base = _example(scratch)
    run = _verify(cli, capsys, base, inputs.files, maps=maps)
    assert run.code == 0, run.err
    _check(run, base / "out")
    assert run.results is not None and len(run.results) == inputs.n_claims
    assert sorted(str(r["claim"]) for r in run.results) == sorted(
        line.split(",")[0] for line in inputs.files["claims.csv"].decode().splitlines()[1:]
    )
    if maps:
        assert (base / "out" / "maps" / "overview.svg").is_file()


@_fuzz(30)
@given(
    inputs=valid_inputs(),
    target=st.sampled_from(FILES),
    name=st.sampled_from(sorted(BENIGN_CSV)),
)
def test_harmless_changes_give_the_same_results(
    cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    scratch: Path,
    inputs: Inputs,
    target: str,
    name: str,
) -> None:
    """A BOM, CRLF, blank lines, quotes, spaces, header case, column order, an extra column."""
    mutate = BENIGN_CSV[name]
    if target == "regions.json":  # JSON has no columns: only its encoding and line ends vary
        mutate = {"bom": _bom, "crlf": _crlf}.get(name, _bom)
    plain = _verify(cli, capsys, _example(scratch), inputs.files)
    changed = dict(inputs.files)
    changed[target] = mutate(changed[target])
    run = _verify(cli, capsys, _example(scratch), changed)
    assert plain.code == 0 and run.code == 0, run.err
    assert run.results == plain.results


@_fuzz(65)
@given(
    inputs=valid_inputs(),
    target=st.sampled_from(FILES[:4]),
    mutations=st.lists(csv_mutations, min_size=1, max_size=2),
    maps=st.sampled_from([False, False, False, True]),
)
def test_mangled_csv_is_reported_or_harmless(
    cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    scratch: Path,
    inputs: Inputs,
    target: str,
    mutations: list[Callable[[bytes], bytes]],
    maps: bool,
) -> None:
    files = dict(inputs.files)
    for mutate in mutations:
        if files[target] in (DIRECTORY, MISSING):
            break
        try:
            files[target] = mutate(files[target])
        except (UnicodeDecodeError, IndexError):  # a column mutation after a byte mutation: skip it
            continue
    base = _example(scratch)
    _check(_verify(cli, capsys, base, files, maps=maps), base / "out")


@_fuzz(30)
@given(inputs=valid_inputs(), mutate=region_mutations)
def test_mangled_regions_are_reported_or_harmless(
    cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    scratch: Path,
    inputs: Inputs,
    mutate: Callable[[bytes], bytes],
) -> None:
    files = dict(inputs.files)
    files["regions.json"] = mutate(files["regions.json"])
    base = _example(scratch)
    run = _verify(cli, capsys, base, files, maps=True)
    _check(run, base / "out")


# --- bugs the fuzzing found, one case each ----------------------------------------------------------


def _plain_files() -> dict[str, bytes]:
    """Four landmarks, one target measured to all, a claim of every kind."""
    picks = CITIES[:4]
    lms = "id,lat,lon,country\n" + "".join(f"{c[0]},{c[1]},{c[2]},{c[3]}\n" for c in picks)
    mesh = "a,b,rtt_ms\n" + "".join(
        f"{a[0]},{b[0]},{_rtt(_km(a, b), 1.5)}\n" for i, a in enumerate(picks) for b in picks[i + 1 :]
    )
    rtts = "target,landmark,rtt_ms\n" + "".join(f"t1,{c[0]},{_rtt(_km(picks[0], c), 1.4)}\n" for c in picks)
    claims = "claim,target,lat,lon,country\np,t1,48.86,2.35,\nc,t1,,,FR;BE\nr,t1,,,zone1\nu,t9,,,north\n"
    return {
        "landmarks.csv": lms.encode(),
        "rtts.csv": rtts.encode(),
        "mesh.csv": mesh.encode(),
        "claims.csv": claims.encode(),
        "regions.json": json.dumps(REGION).encode(),
    }


def _region_with(coordinates: object, kind: str = "Polygon") -> bytes:
    doc = json.loads(json.dumps(REGION))
    doc["features"][0]["geometry"] = {"type": kind, "coordinates": coordinates}
    return json.dumps(doc, allow_nan=True).encode()


def _features(*features: object) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


ZONE = REGION["features"][0]
REGRESSIONS = [
    # (file, content, None for success or (line or None, words) for the expected error)
    # A non-numeric, out-of-range or NaN coordinate, or a ring of under 4 positions, was a
    # traceback from inside verification or map drawing, or silently gave a verdict.
    ("regions.json", _region_with([[["a", 40], [20, 40], [20, 55], ["a", 40]]]), (None, "not a number")),
    ("regions.json", _region_with([[[0, 40], [20, 40], [0, 40]]]), (None, "at least 4")),
    ("regions.json", _region_with([[[0, 40], [400, 40], [400, 55], [0, 40]]]), (None, "out of range")),
    ("regions.json", _region_with([[[-190, 40], [190, 40], [190, 55], [-190, 40]]]), (None, "360")),
    # A ring written past 180° (not cut at the antimeridian) is a region, read modulo 360°.
    ("regions.json", _region_with([[[177, -19], [181, -19], [181, -16], [177, -16], [177, -19]]]), None),
    ("regions.json", _region_with([[[0, 40], [20, math.nan], [20, 55], [0, 40]]]), (None, "out of range")),
    ("regions.json", _region_with([[[0, 40], [20, 10**400], [20, 55], [0, 40]]]), (None, "out of range")),
    ("regions.json", _region_with([[[True, 40], [20, 40], [20, 55], [True, 40]]]), (None, "not a number")),
    ("regions.json", _region_with(None), (None, "list of rings")),
    # A "properties" that is not an object was an AttributeError.
    (
        "regions.json",
        _features({"type": "Feature", "properties": [1], "geometry": None}),
        (None, "feature 0"),
    ),
    # Two regions of one name: the second silently replaced the first.
    ("regions.json", _features(ZONE, ZONE), (None, "used twice")),
    # A BOM before the JSON was "not valid JSON"; CSV files have always allowed one.
    ("regions.json", b"\xef\xbb\xbf" + json.dumps(REGION).encode(), None),
    # 3-D positions ([lon, lat, alt], allowed by GeoJSON) failed in the map drawing.
    ("regions.json", _region_with([[[-5, 40, 1], [20, 40, 1], [20, 56, 1], [-5, 56, 1], [-5, 40, 1]]]), None),
    # A ring mixing [lon, lat] and [lon, lat, alt] passed the check, then failed inside the engine.
    ("regions.json", _region_with([[[-5, 40], [20, 40, 1], [20, 56], [-5, 56, 1], [-5, 40]]]), None),
    # Not UTF-8: said so, but not where.
    (
        "regions.json",
        json.dumps(REGION, indent=1).replace("zone1", "z\xe9").encode("latin-1"),
        (7, "not UTF-8"),
    ),
    ("regions.json", b"[" * 100_000, (None, "nested too deeply")),
    ("rtts.csv", "target,landmark,rtt_ms\nt1,paris,5\nt\xe9,paris,5\n".encode("latin-1"), (3, "not UTF-8")),
    # A column named twice: the later one silently won.
    ("landmarks.csv", b"id,lat,lon,lat\nparis,48.86,2.35,1\n", (1, "lat appear more than once")),
    # "ÄÖ" passed as an ISO 3166 alpha-2 code.
    ("landmarks.csv", "id,lat,lon,country\nparis,48.86,2.35,ÄÖ\n".encode(), (2, "alpha-2")),
    # Spaces around ids: the bulk RTT reader called " paris" an unknown landmark.
    ("rtts.csv", b"target,landmark,rtt_ms\nt1, paris,5\nt1,berlin ,9\nt1,madrid,12\nt1,london,8\n", None),
]


@pytest.mark.parametrize(("name", "content", "expected"), REGRESSIONS)
def test_found_by_fuzzing(
    cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    content: bytes,
    expected: tuple[int | None, str] | None,
) -> None:
    files = _plain_files()
    files[name] = content
    run = _verify(cli, capsys, tmp_path, files, maps=True, map_limit=10)  # a map for every claim
    _check(run, tmp_path / "out")
    if expected is None:
        assert run.code == 0, run.err
        return
    line, words = expected
    where = f"{run.paths[name]}, line {line}: " if line is not None else f"{run.paths[name]}: "
    assert run.code == 2 and where in run.err and words in run.err, run.err


def test_a_bad_regions_file_is_reported_without_claims(
    cli: Callable[..., int], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before, --regions was only read when --claims was given, so a broken file went unnoticed."""
    files = _plain_files()
    del files["claims.csv"]
    files["regions.json"] = b"{"
    run = _verify(cli, capsys, tmp_path, files)
    assert run.code == 2 and "regions.json, line 1: not valid JSON" in run.err
    _check(run, tmp_path / "out")


def _plain_inputs(folder: Path) -> list[object]:
    """The plain input files written to ``folder``, as ``verify`` and its input arguments."""
    paths = {}
    for name, content in _plain_files().items():
        paths[name] = folder / name
        paths[name].write_bytes(content)
    return [
        "verify",
        "--landmarks",
        paths["landmarks.csv"],
        "--rtts",
        paths["rtts.csv"],
        "--claims",
        paths["claims.csv"],
        "--regions",
        paths["regions.json"],
    ]


@pytest.fixture
def results_write_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing results.jsonl, the last output, fails as on a full disk."""
    import fleetproof.batch.run as run_module
    from fleetproof.errors import ConfigError

    def fail(*_args: object) -> None:
        raise ConfigError("cannot write the results: disk full")

    monkeypatch.setattr(run_module, "write_jsonl", fail)


@pytest.mark.parametrize("blocked", ["out", "map"])
def test_an_unwritable_output_leaves_no_other_output(
    cli: Callable[..., int], capsys: pytest.CaptureFixture[str], tmp_path: Path, blocked: str
) -> None:
    """A folder as --out was a traceback; a file as --map an error after the landmark report was written."""
    inputs = _plain_inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    if blocked == "out":
        (out / "results.jsonl").mkdir()
    else:
        (out / "maps").write_text("a file, not a folder\n")
    before = sorted(out.rglob("*"))
    code = cli(
        *inputs,
        "--out",
        out / "results.jsonl",
        "--landmark-report",
        out / "nested" / "lr.json",
        "--map",
        out / "maps",
        "--workers",
        "1",
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.startswith("fleetproof: error: cannot"), err
    assert sorted(out.rglob("*")) == before


def test_a_failed_write_takes_back_what_this_run_wrote(
    cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    results_write_fails: None,
) -> None:
    """The results are written last; when that fails, the report and maps written before go too."""
    run = _verify(cli, capsys, tmp_path / "x", _plain_files(), maps=True)
    assert run.code == 2 and "disk full" in run.err
    assert not (tmp_path / "x" / "out").exists()


def test_a_failed_write_takes_back_the_maps_added_to_an_existing_folder(
    cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    results_write_fails: None,
) -> None:
    """A map folder that was there before keeps what it held, and loses only this run's maps."""
    maps = tmp_path / "x" / "out" / "maps"
    maps.mkdir(parents=True)
    (maps / "mine.txt").write_text("the operator's own file\n")
    run = _verify(cli, capsys, tmp_path / "x", _plain_files(), maps=True)
    assert run.code == 2 and "disk full" in run.err
    assert sorted(p.name for p in maps.iterdir()) == ["mine.txt"]
    assert not (tmp_path / "x" / "out" / "lr.json").exists()


def test_landmarks_reader_accepts_what_the_fuzzing_calls_harmless(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    p.write_bytes(b'\xef\xbb\xbf"ID" ,LAT,lon\r\n\r\n"paris, centre", 48.86 ,+2.35\r\n')
    [lm] = read_landmarks(p)
    assert (lm.id, lm.lat, lm.lon) == ("paris, centre", 48.86, 2.35)


@pytest.mark.parametrize("other", ["--map", "--landmark-report"])
def test_one_path_for_two_outputs_is_refused(
    cli: Callable[..., int], capsys: pytest.CaptureFixture[str], tmp_path: Path, other: str
) -> None:
    """--out and --map on one path was an IsADirectoryError traceback after the maps were drawn;
    --out and --landmark-report on one path silently left only the results there."""
    inputs = _plain_inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    same = out / "same"
    code = cli(
        *inputs,
        "--out",
        same,
        other,
        out / "." / "same",
        "--workers",
        "1",
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.startswith("fleetproof: error: cannot"), err
    assert list(out.iterdir()) == []
