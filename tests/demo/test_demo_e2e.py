"""`fleetproof demo` end to end: real processes on loopback, verdicts from emulated geography.

The acceptance contract: with a scenario of its own, `GET /api/v1/devices` lists every scenario host
by its id with a verdict, and `GET /` answers the dashboard. A host placed on another continent than
its zone allows must come out `violation`; an honest one must not; a host a few km from two landmarks
of its metro, deep inside its zone's country, must come out `proven` (and so never `suspicious`); a
landmark answering from another continent than it is advertised on must be quarantined. (The engine
tolerates one landmark being wrong, so two landmarks near the moved host are needed to disprove its
claim, and two near the proven one to prove it.) No host whose location is honest is flagged
`suspicious` at host level (k of its last n rounds flagged) after any of its rounds; the test runs
until each has had k rounds judged, so the flag could have come up. honest-fra sits 1 km from the
Frankfurt landmark, where the engine's per-round statistic used to flag honest hosts.

Nothing here waits a fixed time: the test polls the API until every expected outcome is there, with a
bound generous enough for a loaded machine; the proof is robust to such a machine too, since Kansas
City lies some 900 km from the nearest border and its landmarks' round trips would have to take
several ms longer than the scenario's for the proof to fail. So is the absence of a host-level flag:
with 0.5 to 5 ms added to every RTT and up to 3 ms more drawn per landmark and round (100 rounds each),
the engine's statistic for honest-fra and faulty-fra stayed at 8.7 or less against the threshold of
12, and the host flag needs k flagged rounds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = {
    "network": {"jitter_ms": 0.5},
    "landmarks": [
        {"id": "frankfurt", "lat": 50.12, "lon": 8.68, "country": "DE"},
        {"id": "london", "lat": 51.52, "lon": -0.11, "country": "GB"},
        {"id": "prague", "lat": 50.08, "lon": 14.42, "country": "CZ"},
        {"id": "kansascity", "lat": 39.10, "lon": -94.58, "country": "US", "access_ms": 0.2},
        {"id": "kansascity-2", "lat": 39.12, "lon": -94.55, "country": "US", "access_ms": 0.2},
        {"id": "tokyo", "lat": 35.67, "lon": 139.82, "country": "JP"},
        {"id": "hongkong", "lat": 22.3, "lon": 114.17, "country": "HK"},
        # Advertised in Sydney, answering from Paris: the mesh must give it away.
        {
            "id": "fake-sydney",
            "lat": -33.87,
            "lon": 151.21,
            "country": "AU",
            "actual": {"lat": 48.86, "lon": 2.35},
        },
    ],
    "zones": [
        {"id": "eu", "allowed_countries": ["DE", "NL", "BE", "FR"]},
        {"id": "us", "allowed_countries": ["US"]},
    ],
    "hosts": [
        {"id": "honest-fra", "zone": "eu", "accelerators": 2, "actual": {"lat": 50.11, "lon": 8.68}},
        {"id": "moved-to-tokyo", "zone": "eu", "accelerators": 2, "actual": {"lat": 35.68, "lon": 139.77}},
        {
            "id": "faulty-fra",
            "zone": "eu",
            "accelerators": 2,
            "actual": {"lat": 50.0, "lon": 8.5},
            "faults": ["ecc_dbe@1"],
        },
        {
            "id": "proven-kc",
            "zone": "us",
            "accelerators": 2,
            "vendor": "amd",
            "actual": {"lat": 39.11, "lon": -94.57},
            "access_ms": 0.2,
        },
    ],
}
HOSTS = {"honest-fra", "moved-to-tokyo", "faulty-fra", "proven-kc"}
#: The hosts whose location is honest (faulty-fra's fault is in its accelerators, not its place).
HONEST = ("honest-fra", "faulty-fra", "proven-kc")
#: Bound on the wait for every outcome, s: start-up and a few probe rounds on a loaded 2-core machine.
PATIENCE_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _devices(port: int, token: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/devices", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    response.raise_for_status()
    result: list[dict[str, object]] = response.json()
    return result


def _history(port: int, token: str, host: str) -> list[dict[str, Any]]:
    """The host's judged rounds, newest first, each with its persistence evidence."""
    response = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/devices/{host}/verdicts",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


def _could_be_flagged(history: list[dict[str, Any]]) -> bool:
    """Whether the host has had as many rounds judged as the host-level flag needs (k of k..n)."""
    return bool(history) and len(history) >= history[0]["evidence"]["suspicious_persistence"]["min_rounds"]


def test_demo_catches_the_moved_host_and_the_faulty_one(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    port, token = _free_port(), "demo-test-token"
    args = ["--scenario", str(scenario), "--port", str(port), "--admin-token", token, "--probe-interval", "8"]
    process = subprocess.Popen(
        [sys.executable, "-m", "fleetproof", "demo", *args, "--duration", str(PATIENCE_S + 120)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + PATIENCE_S
        by_id: dict[str, dict[str, object]] = {}
        histories: dict[str, list[dict[str, Any]]] = {}
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                by_id = {str(d["id"]): d for d in _devices(port, token)}
            except httpx.HTTPError:
                by_id = {}
            verdicts = {host: d.get("verdict") for host, d in by_id.items()}
            healthy = by_id.get("faulty-fra", {}).get("health")
            expected = verdicts.get("proven-kc") == "proven" and verdicts.get("moved-to-tokyo") == "violation"
            if set(by_id) == HOSTS and all(verdicts.values()) and healthy == "unhealthy" and expected:
                try:
                    histories = {host: _history(port, token, host) for host in HONEST}
                except httpx.HTTPError:
                    histories = {}
                if histories and all(_could_be_flagged(h) for h in histories.values()):
                    break
            time.sleep(1)  # a poll interval, not a wait for something to have happened
        assert set(by_id) == HOSTS
        assert by_id["moved-to-tokyo"]["verdict"] == "violation"
        assert by_id["honest-fra"]["verdict"] in {"consistent", "proven"}
        assert by_id["faulty-fra"]["health"] == "unhealthy"
        assert by_id["proven-kc"]["verdict"] == "proven", by_id["proven-kc"]
        assert by_id["proven-kc"]["suspicious"] is False
        # No honest host is flagged at host level, now or after any of its rounds.
        for host in HONEST:
            assert _could_be_flagged(histories.get(host, [])), (host, histories.get(host))
            assert by_id[host]["suspicious"] is False, (host, by_id[host])
            flagged = [
                (r["time"], r["evidence"]["suspicious_persistence"], r["evidence"].get("likelihood_ratio"))
                for r in histories[host]
                if r["evidence"]["suspicious_persistence"]["host_flagged"]
            ]
            assert not flagged, (host, flagged)
        landmarks = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/landmarks",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()
        assert [lm["id"] for lm in landmarks if not lm["trusted"]] == ["fake-sydney"]
        # Each host's evidence bundle checks out offline: signed positions, records and mesh, verdicts.
        from fleetproof.evidence.bundle import Bundle
        from fleetproof.evidence.verify import verify_bundle
        from fleetproof.geodata import load_countries

        for host in ("honest-fra", "moved-to-tokyo"):
            doc = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/devices/{host}/evidence",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ).json()
            report = verify_bundle(Bundle.model_validate(doc), load_countries())
            assert report.ok, (host, report.failures, [v.problems for v in report.verdicts])
            assert doc["verdicts"] and all(e["record"] is not None for e in doc["mesh"])
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200
        assert "<html" in page.text.lower()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    text = output.decode()
    assert process.returncode == 0, text
    assert f"http://127.0.0.1:{port}/#token={token}" in text
    # Everything it started is gone: nothing listens on the port any more (TIME_WAIT is fine).
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
