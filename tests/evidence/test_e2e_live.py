"""End to end on loopback: real landmark daemons, the real server, real probing, export, offline verify.

Five ``fleetproof landmark serve`` processes announce their directory line and signed
position statement; the server (its own process, SQLite) registers them with those
statements. Each landmark probes the others through delaying relays placed at its own
city (:mod:`fleetproof.probe.netem`, full-length delays) and the signed mesh records go
to the server. A device enrolled in a zone allowing Germany probes every landmark from
relays placed in Frankfurt; the records travel to the server in a signed ingest
request, and the server's background pipeline judges it. The bundle, exported by the
command line and over the API, must then verify offline — with the landmark keys taken
from the bundle and pinned by the daemons' own directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import fleetproof.cli
from fleetproof.probe.keys import generate_key, load_private_key, public_key_b64, save_private_key
from fleetproof.probe.mesh import run_mesh
from fleetproof.probe.netem import DelayModel, RelayNetwork
from fleetproof.probe.prober import Prober, UdpTransport
from fleetproof.probe.records import LandmarkEntry, load_landmark_directory
from fleetproof.protocol.reqsign import sign_request

pytestmark = pytest.mark.integration

CITIES = {
    "paris": (48.8566, 2.3522),
    "berlin": (52.52, 13.405),
    "madrid": (40.4168, -3.7038),
    "warsaw": (52.2297, 21.0122),
    "rome": (41.9028, 12.4964),
}
FRANKFURT = (50.1109, 8.6821)
TOKEN = "evidence-e2e-admin-token"
SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def landmarks(tmp_path: Path) -> Iterator[tuple[Path, dict[str, dict[str, Any]]]]:
    """The daemons' directory file, and each daemon's position statement; the daemons stop afterwards."""
    procs: list[subprocess.Popen[str]] = []
    statements: dict[str, dict[str, Any]] = {}
    lines = ["id,lat,lon,address,public_key"]
    try:
        for name, (lat, lon) in CITIES.items():
            save_private_key(generate_key(), tmp_path / f"{name}.key")
            argv = ["landmark", "serve", "--id", name, "--lat", str(lat), "--lon", str(lon)]
            argv += ["--listen", "127.0.0.1:0", "--key", str(tmp_path / f"{name}.key"), "--duration-s", "120"]
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "fleetproof", *argv], stdout=subprocess.PIPE, text=True, env=ENV
                )
            )
        for name, proc in zip(CITIES, procs, strict=True):
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("directory line: "):
                    lines.append(line.removeprefix("directory line: ").strip())
                elif line.startswith("position statement: "):
                    statements[name] = json.loads(line.removeprefix("position statement: "))
                    break
        assert len(statements) == len(CITIES), "a landmark daemon did not start"
        (tmp_path / "DIR.csv").write_text("\n".join(lines) + "\n")
        yield tmp_path / "DIR.csv", statements
    finally:
        _stop(procs)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The fleet server in its own process on 127.0.0.1 (SQLite, background pipeline every 0.2 s)."""
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    url = f"http://127.0.0.1:{_free_port()}"
    env = {
        **ENV,
        "FLEETPROOF_DATA_DIR": str(tmp_path),
        "FLEETPROOF_VERDICT_DEBOUNCE_S": "0.2",
        "FLEETPROOF_MAINTENANCE_INTERVAL_S": "0.2",
    }
    argv = ["server", "--db", db, "--listen", url.removeprefix("http://"), "--admin-token", TOKEN]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetproof", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
            assert time.monotonic() < deadline, "the server did not answer within 60 s"
            time.sleep(0.1)
        yield url, db
    finally:
        _stop([proc])


def _mesh(directory: dict[str, LandmarkEntry], keys_dir: Path, relays: RelayNetwork) -> list[dict[str, Any]]:
    """Every landmark probes the others through relays at its own city, all at once."""
    records: list[Any] = []
    lock = threading.Lock()

    def one(name: str) -> None:
        relayed = {e.id: e for e in relays.relay_directory(directory.values(), *CITIES[name])}
        got = run_mesh(name, load_private_key(keys_dir / f"{name}.key"), relayed, UdpTransport(), samples=3)
        with lock:
            records.extend(got)

    threads = [threading.Thread(target=one, args=(name,)) for name in CITIES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r.model_dump(mode="json") for r in records]


def test_a_live_fleet_exports_a_bundle_that_verifies_offline(
    landmarks: tuple[Path, dict[str, dict[str, Any]]],
    server: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dir_csv, statements = landmarks
    url, db = server
    directory = load_landmark_directory(dir_csv)
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    with admin, RelayNetwork(DelayModel(inflation=1.5, jitter_ms=0.5)) as relays:
        for e in directory.values():
            body = {
                "id": e.id,
                "lat": e.lat,
                "lon": e.lon,
                "address": e.address,
                "public_key": e.public_key_b64,
            }
            r = admin.post("/api/v1/landmarks", json={**body, "statement": statements[e.id]})
            assert r.status_code == 201, r.text
        r = admin.post("/api/v1/landmarks/mesh", json={"records": _mesh(directory, dir_csv.parent, relays)})
        assert r.status_code == 200 and r.json()["quarantined"] == [], r.text
        assert r.json()["pairs"] == len(CITIES) * (len(CITIES) - 1)
        assert admin.post("/api/v1/zones", json={"id": "de", "allowed_countries": ["DE"]}).status_code == 201
        token = admin.post("/api/v1/enrollment-tokens", json={"zone": "de", "device_id": "fra-1"}).json()[
            "token"
        ]
        key = generate_key()
        inventory = {"time": time.time(), "host": {"hostname": "fra-1"}, "accelerators": []}
        r = httpx.post(
            f"{url}/api/v1/enroll",
            json={"public_key": public_key_b64(key), "inventory": inventory},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        relayed = relays.relay_directory(directory.values(), *FRANKFURT)
        result = Prober(key, "fra-1", UdpTransport(), samples=5, concurrency=5).probe(relayed)
        assert len(result.records) == len(CITIES), result.unreachable
        items = [
            {
                "id": r.session_id,
                "kind": "probe_record",
                "created_at": r.time,
                "payload": r.model_dump(mode="json"),
            }
            for r in result.records
        ]
        raw = json.dumps({"items": items}).encode()
        headers = sign_request(key, "fra-1", "POST", "/api/v1/ingest", raw, now=time.time())
        r = httpx.post(
            f"{url}/api/v1/ingest", content=raw, headers={**headers, "content-type": "application/json"}
        )
        assert r.status_code == 200 and r.json()["accepted"] == len(CITIES), r.text

        deadline = time.monotonic() + 60
        while admin.get("/api/v1/devices/fra-1").json()["verdict"] is None:
            assert time.monotonic() < deadline, "no verdict within 60 s"
            time.sleep(0.2)
        assert admin.get("/api/v1/devices/fra-1").json()["verdict"] in ("consistent", "proven")
        api_bundle = tmp_path / "api.json"
        api_bundle.write_text(admin.get("/api/v1/devices/fra-1/evidence").text)

    cli_bundle = tmp_path / "cli.json"
    export = ["server", "evidence", "export", "--db", db, "--device", "fra-1", "--out", str(cli_bundle)]
    assert fleetproof.cli.main(export) == 0
    for bundle in (cli_bundle, api_bundle):
        assert fleetproof.cli.main(["evidence", "verify", str(bundle), "--landmarks", str(dir_csv)]) == 0
        out = capsys.readouterr().out
        assert "verdicts: 1 of 1 reproduced" in out and "result: OK" in out, out
        assert f"measurement records: {len(CITIES)} of {len(CITIES)} signed" in out
        assert f"landmark position statements: {len(CITIES)} signed" in out
    doc = json.loads(cli_bundle.read_text())
    assert doc["calibrations"][0]["kind"] == "mesh"
    assert all(e["record"] is not None for e in doc["mesh"])
