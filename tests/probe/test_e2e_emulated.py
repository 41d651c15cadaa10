"""End to end on one machine: real landmark processes, real prober, delaying relays, the engine.

Six landmark processes run ``fleetproof landmark serve`` on 127.0.0.1. Each
emulated host gets its own set of relays (:mod:`fleetproof.probe.netem`) that
delay every datagram by the great-circle distance from the host's *true*
position to the landmark at 2/3 c × 1.5, plus jitter. To keep CI fast, every
delay is slept at ``TIME_SCALE`` (0.1) of its emulated length, and the RTTs are
divided by the same factor before the engine sees them (``records to-rtts
--time-scale``). That division also magnifies the loopback's own overhead
tenfold, which can only make RTTs larger — the sound direction.

An honest host in Paris claiming Paris must come out ``consistent``; a host in
Paris claiming a point 5,000 km away must come out ``violation``.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetproof.cli import main
from fleetproof.probe.keys import generate_key, save_private_key
from fleetproof.probe.netem import DelayModel, RelayNetwork, great_circle_km
from fleetproof.probe.prober import Prober, UdpTransport
from fleetproof.probe.records import (
    load_landmark_directory,
    write_landmark_directory,
    write_records,
)

pytestmark = pytest.mark.integration

TIME_SCALE = 0.1
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


def destination(lat: float, lon: float, bearing_deg: float, distance_km: float) -> tuple[float, float]:
    """The point ``distance_km`` from (lat, lon) along ``bearing_deg`` on the sphere."""
    d = distance_km / 6371.0088
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


ENV = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "PYTHONUNBUFFERED": "1"}


def fleetproof(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``fleetproof`` command line in a fresh process."""
    return subprocess.run(
        [sys.executable, "-c", BOOT, *args], capture_output=True, text=True, env=ENV, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def landmark_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Start one ``fleetproof landmark serve`` process per city; yield the directory; stop them."""
    tmp_path = tmp_path_factory.mktemp("landmarks")
    procs: list[subprocess.Popen[str]] = []
    env = ENV
    try:
        for name, (lat, lon) in CITIES.items():
            save_private_key(generate_key(), tmp_path / f"{name}.key")
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        BOOT,
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
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
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


def probe_from(directory: Path, true_pos: tuple[float, float], device_id: str, out: Path) -> None:
    """Probe every landmark through relays that put this host at ``true_pos``."""
    landmarks = load_landmark_directory(directory)
    with RelayNetwork(DelayModel(inflation=1.5, jitter_ms=2.0, time_scale=TIME_SCALE)) as relays:
        relayed = relays.relay_directory(landmarks.values(), *true_pos)
        write_landmark_directory(out.with_suffix(".dir.csv"), relayed)
        prober = Prober(generate_key(), device_id, UdpTransport(), samples=5, timeout_s=1.0, concurrency=6)
        result = prober.probe(relayed)
    assert result.unreachable == []
    write_records(out, result.records)


def test_honest_host_is_consistent_and_liar_is_violation(
    landmark_processes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    geo = pytest.importorskip("fleetproof.geo")
    monkeypatch.setattr("fleetproof.cli.COMMAND_MODULES", ("fleetproof.probe.cli",))
    probe_from(landmark_processes, PARIS, "honest-paris", tmp_path / "honest.jsonl")
    probe_from(landmark_processes, PARIS, "liar-paris", tmp_path / "liar.jsonl")
    rtts_csv = tmp_path / "R.csv"
    assert (
        main(
            [
                "records",
                "to-rtts",
                str(tmp_path / "honest.jsonl"),
                str(tmp_path / "liar.jsonl"),
                "--landmarks",
                str(landmark_processes),
                "--out",
                str(rtts_csv),
                "--time-scale",
                str(TIME_SCALE),
            ]
        )
        == 0
    )

    rtts: dict[str, dict[str, float]] = {}
    for row in csv.DictReader(rtts_csv.open()):
        rtts.setdefault(row["target"], {})[row["landmark"]] = float(row["rtt_ms"])
    # the emulated RTT is never below the emulated physical delay (relays only add)
    for landmark, rtt in rtts["honest-paris"].items():
        one_way = DelayModel(inflation=1.5).one_way_ms(great_circle_km(*PARIS, *CITIES[landmark]))
        assert rtt >= 2 * one_way

    claim_point = destination(*PARIS, 90.0, 5000.0)
    assert great_circle_km(*PARIS, *claim_point) == pytest.approx(5000, rel=1e-3)
    verifier = geo.Verifier([geo.Landmark(name, lat, lon) for name, (lat, lon) in CITIES.items()])
    honest = verifier.verify(rtts["honest-paris"], [geo.Claim.point("c1", "honest-paris", *PARIS)])[0]
    liar = verifier.verify(rtts["liar-paris"], [geo.Claim.point("c2", "liar-paris", *claim_point)])[0]
    assert honest.verdict == "consistent", honest.evidence
    assert liar.verdict == "violation", liar.evidence


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
