"""End to end on one machine: landmark processes, the real prober, delaying relays, `fleetproof verify`.

Six landmark processes run ``fleetproof landmark serve`` on 127.0.0.1. Every
emulated host — and every landmark, for the mesh — gets its own set of relays
(:mod:`fleetproof.probe.netem`, all on one event loop) that delay each datagram
by the great-circle distance from its *true* position to the landmark at
2/3 c × 1.5, plus up to 2 ms of jitter, on each leg. To keep CI fast every delay
is slept at ``TIME_SCALE`` = 0.25 of its emulated length, and RTTs are divided by
the same factor on the way to the engine (``records to-rtts --time-scale``,
``mesh build --time-scale``). That division also magnifies the loopback's own
overhead fourfold, which can only make RTTs larger — the sound direction.

A host in Paris claiming Paris must come out ``consistent``; a host in Paris
claiming a point 5,000 km away must come out ``violation``; no landmark may be
quarantined.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetproof.cli import main
from fleetproof.probe.keys import generate_key, load_private_key, save_private_key
from fleetproof.probe.mesh import run_mesh
from fleetproof.probe.netem import DelayModel, RelayNetwork, great_circle_km
from fleetproof.probe.prober import UdpTransport
from fleetproof.probe.records import (
    MeasurementRecord,
    load_landmark_directory,
    write_landmark_directory,
    write_records,
)

pytestmark = pytest.mark.integration

TIME_SCALE = 0.25
MODEL = DelayModel(inflation=1.5, jitter_ms=2.0, time_scale=TIME_SCALE)
CITIES = {
    "london": (51.5074, -0.1278),
    "newyork": (40.7128, -74.0060),
    "tokyo": (35.6762, 139.6503),
    "sydney": (-33.8688, 151.2093),
    "saopaulo": (-23.5505, -46.6333),
    "johannesburg": (-26.2041, 28.0473),
}
PARIS = (48.8566, 2.3522)
# Runs the CLI with the probe commands registered even where cli.py does not list them yet.
BOOT = (
    "import sys, fleetproof.cli as c; m = 'fleetproof.probe.cli'; "
    "c.COMMAND_MODULES = c.COMMAND_MODULES if m in c.COMMAND_MODULES else (*c.COMMAND_MODULES, m); "
    "raise SystemExit(c.main())"
)
ENV = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "PYTHONUNBUFFERED": "1"}


def fleetproof(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``fleetproof`` command line in a fresh process."""
    return subprocess.run(
        [sys.executable, "-c", BOOT, *args], capture_output=True, text=True, env=ENV, timeout=60, check=False
    )


def destination(lat: float, lon: float, bearing_deg: float, distance_km: float) -> tuple[float, float]:
    """The point ``distance_km`` from (lat, lon) along ``bearing_deg`` on the sphere."""
    d = distance_km / 6371.0088
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


@pytest.fixture(scope="module")
def landmark_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Start one ``fleetproof landmark serve`` process per city; yield the directory; stop them."""
    tmp_path = tmp_path_factory.mktemp("landmarks")
    procs: list[subprocess.Popen[str]] = []
    try:
        for name, (lat, lon) in CITIES.items():
            save_private_key(generate_key(), tmp_path / f"{name}.key")
            command = [
                "landmark",
                "serve",
                "--id",
                name,
                "--lat",
                str(lat),
                "--lon",
                str(lon),
                "--listen",
                "127.0.0.1:0",
                "--key",
                str(tmp_path / f"{name}.key"),
                "--duration-s",
                "60",
            ]
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", BOOT, *command], stdout=subprocess.PIPE, text=True, env=ENV
                )
            )
        lines = ["id,lat,lon,address,public_key"]
        for proc in procs:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("directory line: "):
                    lines.append(line.removeprefix("directory line: ").strip())
                    break
        assert len(lines) == len(CITIES) + 1, "a landmark process did not start"
        (tmp_path / "DIR.csv").write_text("\n".join(lines) + "\n")
        yield tmp_path / "DIR.csv"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def emulated_mesh(directory: Path, relays: RelayNetwork, out: Path) -> None:
    """Every landmark probes the others through relays placed at its own city, all at once."""
    landmarks = load_landmark_directory(directory)
    records: list[MeasurementRecord] = []
    lock = threading.Lock()

    def one(name: str) -> None:
        relayed = {e.id: e for e in relays.relay_directory(landmarks.values(), *CITIES[name])}
        key = load_private_key(directory.parent / f"{name}.key")
        got = run_mesh(name, key, relayed, UdpTransport(), samples=3, timeout_s=1.0)
        with lock:
            records.extend(got)

    threads = [threading.Thread(target=one, args=(name,)) for name in CITIES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    write_records(out, records)


def test_honest_host_is_consistent_and_liar_is_violation(
    landmark_processes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fleetproof.batch.cli")
    monkeypatch.setattr("fleetproof.cli.COMMAND_MODULES", ("fleetproof.batch.cli", "fleetproof.probe.cli"))
    save_private_key(generate_key(), tmp_path / "host.key")
    with RelayNetwork(MODEL) as relays:
        write_landmark_directory(
            tmp_path / "paris.csv",
            relays.relay_directory(load_landmark_directory(landmark_processes).values(), *PARIS),
        )
        for host in ("honest", "liar"):
            assert (
                main(
                    [
                        "probe",
                        "--landmarks",
                        str(tmp_path / "paris.csv"),
                        "--key",
                        str(tmp_path / "host.key"),
                        "--device-id",
                        host,
                        "--samples",
                        "5",
                        "--concurrency",
                        "6",
                        "--out",
                        str(tmp_path / f"{host}.jsonl"),
                    ]
                )
                == 0
            )
        emulated_mesh(landmark_processes, relays, tmp_path / "mesh.jsonl")

    d = str(landmark_processes)
    assert (
        main(
            [
                "records",
                "to-rtts",
                str(tmp_path / "honest.jsonl"),
                str(tmp_path / "liar.jsonl"),
                "--landmarks",
                d,
                "--out",
                str(tmp_path / "R.csv"),
                "--landmarks-out",
                str(tmp_path / "L.csv"),
                "--time-scale",
                str(TIME_SCALE),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "mesh",
                "build",
                str(tmp_path / "mesh.jsonl"),
                "--landmarks",
                d,
                "--out",
                str(tmp_path / "M.csv"),
                "--time-scale",
                str(TIME_SCALE),
            ]
        )
        == 0
    )
    assert len((tmp_path / "M.csv").read_text().splitlines()) == 1 + 15  # every pair of six landmarks

    for line in (tmp_path / "R.csv").read_text().splitlines()[1:]:
        _, landmark, rtt = line.split(",")
        one_way = DelayModel(inflation=1.5).one_way_ms(great_circle_km(*PARIS, *CITIES[landmark]))
        assert float(rtt) >= 2 * one_way  # relays only add delay

    claim = destination(*PARIS, 90.0, 5000.0)
    assert great_circle_km(*PARIS, *claim) == pytest.approx(5000, rel=1e-3)
    (tmp_path / "C.csv").write_text(
        f"claim,target,lat,lon,country\nc-honest,honest,{PARIS[0]},{PARIS[1]},\nc-liar,liar,{claim[0]},{claim[1]},\n"
    )
    assert (
        main(
            [
                "verify",
                "--landmarks",
                str(tmp_path / "L.csv"),
                "--rtts",
                str(tmp_path / "R.csv"),
                "--mesh",
                str(tmp_path / "M.csv"),
                "--claims",
                str(tmp_path / "C.csv"),
                "--out",
                str(tmp_path / "results.jsonl"),
                "--landmark-report",
                str(tmp_path / "LR.json"),
            ]
        )
        == 0
    )
    results = {r["claim"]: r for r in map(json.loads, (tmp_path / "results.jsonl").read_text().splitlines())}
    assert results["c-honest"]["verdict"] == "consistent", results["c-honest"]
    assert results["c-liar"]["verdict"] == "violation", results["c-liar"]
    assert json.loads((tmp_path / "LR.json").read_text())["quarantined"] == []


def test_cli_probe_of_three_landmarks_verifies_and_tampering_fails(
    landmark_processes: Path, tmp_path: Path
) -> None:
    """The issue's acceptance path, all through the command line in separate processes."""
    lines = landmark_processes.read_text().splitlines()
    three = tmp_path / "DIR3.csv"
    three.write_text("\n".join(lines[:4]) + "\n")
    assert fleetproof("keys", "generate", "--out", str(tmp_path / "dev.key")).returncode == 0
    probe = fleetproof(
        "probe",
        "--landmarks",
        str(three),
        "--key",
        str(tmp_path / "dev.key"),
        "--device-id",
        "host-1",
        "--samples",
        "5",
        "--out",
        str(tmp_path / "records.jsonl"),
    )
    assert probe.returncode == 0, probe.stderr
    assert "wrote 3 records" in probe.stdout
    ok = fleetproof("records", "verify", str(tmp_path / "records.jsonl"), "--landmarks", str(three))
    assert ok.returncode == 0 and "3 records verified, 0 failed" in ok.stdout

    text = (tmp_path / "records.jsonl").read_text()
    first = text.splitlines()[0]
    rtt = first.split('"rtt_ms":')[1].split(",")[0]
    (tmp_path / "tampered.jsonl").write_text(text.replace(f'"rtt_ms":{rtt}', '"rtt_ms":0.0001', 1))
    bad = fleetproof("records", "verify", str(tmp_path / "tampered.jsonl"), "--landmarks", str(three))
    assert bad.returncode == 1
    assert "record 1" in bad.stdout and "not the minimum" in bad.stdout
    assert "Traceback" not in bad.stderr
