"""The probe part's commands, run in-process against real UDP landmarks on 127.0.0.1."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from fleetproof.cli import main
from fleetproof.probe.keys import generate_key, public_key_b64, save_private_key
from fleetproof.probe.landmark import LandmarkConfig, LandmarkServer
from fleetproof.probe.records import LandmarkEntry, read_records, write_landmark_directory


@pytest.fixture(autouse=True)
def probe_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fleetproof.cli.COMMAND_MODULES", ("fleetproof.probe.cli",))


def test_keys_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path / "d.key")]) == 0
    assert os.stat(tmp_path / "d.key").st_mode & 0o777 == 0o600
    pub = (tmp_path / "d.key.pub").read_text().strip()
    assert main(["keys", "public", str(tmp_path / "d.key")]) == 0
    assert capsys.readouterr().out.strip().endswith(pub)
    assert main(["keys", "generate", "--out", str(tmp_path / "d.key")]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["keys", "generate", "--out", str(tmp_path / "d.key"), "--force"]) == 0
    assert (tmp_path / "d.key.pub").read_text().strip() != pub


def test_probe_verify_and_to_rtts(
    tmp_path: Path, udp_landmarks: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [e for _, e in udp_landmarks(3)]
    dead = LandmarkEntry(
        "dead", 1, 1, "127.0.0.1:9", generate_key().public_key()
    )  # discard port: nobody answers
    write_landmark_directory(tmp_path / "DIR.csv", [*entries, dead])
    save_private_key(generate_key(), tmp_path / "dev.key")
    args = [
        "probe",
        "--landmarks",
        str(tmp_path / "DIR.csv"),
        "--key",
        str(tmp_path / "dev.key"),
        "--device-id",
        "host-1",
        "--samples",
        "4",
        "--timeout-ms",
        "150",
        "--retries",
        "1",
        "--out",
        str(tmp_path / "r.jsonl"),
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "unreachable: dead" in captured.err
    records = read_records(tmp_path / "r.jsonl")
    assert sorted(r.landmark_id for r in records) == ["lm0", "lm1", "lm2"]
    assert all(len(r.samples_ms) == 4 and r.device_id == "host-1" for r in records)

    assert (
        main(["records", "verify", str(tmp_path / "r.jsonl"), "--landmarks", str(tmp_path / "DIR.csv")]) == 0
    )
    assert "3 records verified, 0 failed" in capsys.readouterr().out

    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    rows[0]["rtt_ms"] = rows[0]["rtt_ms"] / 2
    rows[0]["samples_ms"][0] = rows[0]["rtt_ms"]
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert (
        main(["records", "verify", str(tmp_path / "bad.jsonl"), "--landmarks", str(tmp_path / "DIR.csv")])
        == 1
    )
    assert "FAIL" in capsys.readouterr().out

    out = tmp_path / "R.csv"
    assert (
        main(
            [
                "records",
                "to-rtts",
                str(tmp_path / "r.jsonl"),
                "--landmarks",
                str(tmp_path / "DIR.csv"),
                "--out",
                str(out),
                "--landmarks-out",
                str(tmp_path / "L.csv"),
            ]
        )
        == 0
    )
    table = list(csv.DictReader(out.open()))
    assert [r["landmark"] for r in table] == ["lm0", "lm1", "lm2"]
    assert {r["target"] for r in table} == {"host-1"}
    assert float(table[0]["rtt_ms"]) == pytest.approx(
        min(r.rtt_ms for r in records if r.landmark_id == "lm0")
    )
    assert (tmp_path / "L.csv").read_text().splitlines()[0] == "id,lat,lon"

    # a tampered input writes nothing at all
    assert (
        main(
            [
                "records",
                "to-rtts",
                str(tmp_path / "bad.jsonl"),
                "--landmarks",
                str(tmp_path / "DIR.csv"),
                "--out",
                str(tmp_path / "none.csv"),
            ]
        )
        == 1
    )
    assert not (tmp_path / "none.csv").exists()


def test_probe_with_no_reachable_landmark_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = LandmarkEntry("dead", 1, 1, "127.0.0.1:9", generate_key().public_key())
    write_landmark_directory(tmp_path / "DIR.csv", [dead])
    save_private_key(generate_key(), tmp_path / "dev.key")
    status = main(
        [
            "probe",
            "--landmarks",
            str(tmp_path / "DIR.csv"),
            "--key",
            str(tmp_path / "dev.key"),
            "--device-id",
            "h",
            "--timeout-ms",
            "50",
            "--retries",
            "0",
            "--out",
            str(tmp_path / "r.jsonl"),
        ]
    )
    assert status == 3
    assert "no landmark of 1 could be measured" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()


def test_bad_directory_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "DIR.csv").write_text("id,lat,lon,address,public_key\nx,100,0,127.0.0.1:1,AAAA\n")
    save_private_key(generate_key(), tmp_path / "dev.key")
    status = main(
        [
            "probe",
            "--landmarks",
            str(tmp_path / "DIR.csv"),
            "--key",
            str(tmp_path / "dev.key"),
            "--device-id",
            "h",
            "--out",
            str(tmp_path / "r.jsonl"),
        ]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert "DIR.csv, line 2: lat 100 is out of range" in err
    assert "Traceback" not in err


def test_mesh_probe_and_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = [generate_key() for _ in range(3)]
    servers = [LandmarkServer(k, LandmarkConfig(f"m{i}")) for i, k in enumerate(keys)]
    try:
        entries = [
            LandmarkEntry(f"m{i}", i, i, f"127.0.0.1:{s.start()}", k.public_key())
            for i, (s, k) in enumerate(zip(servers, keys, strict=True))
        ]
        write_landmark_directory(tmp_path / "DIR.csv", entries)
        outs = []
        for i, key in enumerate(keys):
            save_private_key(key, tmp_path / f"m{i}.key")
            outs.append(str(tmp_path / f"mesh{i}.jsonl"))
            assert (
                main(
                    [
                        "mesh",
                        "probe",
                        "--id",
                        f"m{i}",
                        "--key",
                        str(tmp_path / f"m{i}.key"),
                        "--landmarks",
                        str(tmp_path / "DIR.csv"),
                        "--samples",
                        "3",
                        "--out",
                        outs[-1],
                    ]
                )
                == 0
            )
    finally:
        for server in servers:
            server.stop()
    assert (
        main(
            [
                "mesh",
                "build",
                *outs,
                "--landmarks",
                str(tmp_path / "DIR.csv"),
                "--out",
                str(tmp_path / "M.csv"),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((tmp_path / "M.csv").open()))
    assert [(r["a"], r["b"]) for r in rows] == [("m0", "m1"), ("m0", "m2"), ("m1", "m2")]
    # a landmark cannot probe under someone else's name
    assert (
        main(
            [
                "mesh",
                "probe",
                "--id",
                "m0",
                "--key",
                str(tmp_path / "m1.key"),
                "--landmarks",
                str(tmp_path / "DIR.csv"),
                "--out",
                str(tmp_path / "x.jsonl"),
            ]
        )
        == 2
    )
    assert "not landmark 'm0'" in capsys.readouterr().err


def test_mesh_build_rejects_records_from_outsiders(world: Any) -> None:
    from fleetproof.probe.mesh import build_mesh, run_mesh
    from fleetproof.probe.prober import Prober

    for name in ("a", "b", "c"):
        world.add(name, one_way_ms=3.0)
    records = run_mesh(
        "a", world.keys["a"], world.entries, world.net, samples=2, rounds=2, sleep=lambda s: None
    )
    assert len(records) == 4
    outsider = (
        Prober(generate_key(), "c", world.net, samples=2, concurrency=1).probe([world.entries["b"]]).records
    )
    mesh, problems = build_mesh([*records, *outsider], world.entries)
    assert mesh == {("a", "b"): 6.0, ("a", "c"): 6.0}
    assert len(problems) == 1 and "not c's directory key" in problems[0]
    assert public_key_b64(world.keys["a"]) == records[0].device_public_key


def test_netem_command_writes_a_relayed_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = [LandmarkEntry("x", 10, 10, "127.0.0.1:7", generate_key().public_key())]
    write_landmark_directory(tmp_path / "DIR.csv", entries)
    args = [
        "netem",
        "--landmarks",
        str(tmp_path / "DIR.csv"),
        "--lat",
        "0",
        "--lon",
        "0",
        "--out",
        str(tmp_path / "relayed.csv"),
        "--duration-s",
        "0.05",
    ]
    assert main(args) == 0
    relayed = (tmp_path / "relayed.csv").read_text().splitlines()[1].split(",")
    assert relayed[0] == "x" and relayed[3] != "127.0.0.1:7" and relayed[3].startswith("127.0.0.1:")
    assert "1 relays up" in capsys.readouterr().out


def test_keys_attest_software(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fleetproof.probe.attest import binding_nonce
    from fleetproof.probe.keys import load_private_key, public_key_bytes

    save_private_key(generate_key(), tmp_path / "d.key")
    assert main(["keys", "attest", str(tmp_path / "d.key"), "--challenge", "00ff"]) == 0
    doc = json.loads(capsys.readouterr().out)
    key = public_key_bytes(load_private_key(tmp_path / "d.key"))
    assert doc["attestor"] == "software" and doc["hardware_bound"] is False
    assert doc["nonce_hex"] == binding_nonce(key, b"\x00\xff").hex()
    assert main(["keys", "attest", str(tmp_path / "d.key"), "--challenge", "zz"]) == 2
    assert main(["keys", "attest", str(tmp_path / "d.key"), "--challenge", "00", "--attestor", "tpm"]) == 2


def test_mesh_rounds_runs_on_a_schedule_until_stopped(world: Any) -> None:
    import itertools

    from fleetproof.probe.mesh import mesh_rounds

    for name in ("a", "b"):
        world.add(name, one_way_ms=1.0)
    waits: list[float] = []
    rounds = mesh_rounds(
        "a", world.keys["a"], world.entries, world.net, rounds=None, every_s=30, samples=1, sleep=waits.append
    )
    results = list(itertools.islice(rounds, 3))
    assert [len(r.records) for r in results] == [1, 1, 1]
    assert waits == [30, 30]
