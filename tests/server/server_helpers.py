"""Building blocks of the server tests: enrolled devices, signed requests, outbox items, records."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from typing import Any

from fleetproof.probe.keys import public_key_b64, public_key_bytes
from fleetproof.probe.records import sign_record
from fleetproof.protocol.curve25519 import Ed25519PrivateKey
from fleetproof.protocol.reqsign import sign_request

ADMIN_HEADERS = {"Authorization": "Bearer test-admin-token"}


@dataclass
class Enrolled:
    device_id: str
    key: Ed25519PrivateKey
    zone: str


def inventory(hostname: str = "gpu-host-1", gpus: int = 2, time_s: float = 1_800_000_000.0) -> dict[str, Any]:
    return {
        "time": time_s,
        "host": {
            "hostname": hostname,
            "os": "Debian GNU/Linux 12",
            "kernel": "6.1.0-18-amd64",
            "cpu_count": 64,
        },
        "accelerators": [
            {
                "index": i,
                "vendor": "nvidia",
                "model": "NVIDIA H100 80GB HBM3",
                "uuid": f"GPU-{hostname}-{i}",
                "serial": f"16520230{i:05d}",
                "driver_version": "550.54.15",
                "memory_total_bytes": 85520809984,
            }
            for i in range(gpus)
        ],
    }


def ensure_zone(client: Any, zone: str = "eu-west", countries: tuple[str, ...] = ("DE", "FR")) -> None:
    r = client.post(
        "/api/v1/zones", json={"id": zone, "allowed_countries": list(countries)}, headers=ADMIN_HEADERS
    )
    assert r.status_code in (201, 400), r.text


def attestation(attestor: str, key: Ed25519PrivateKey, token: str) -> dict[str, Any]:
    """The evidence an agent sends with ``--attestor NAME``: over the key and the token's SHA-256."""
    from fleetproof.probe.attest import get_attestor
    from fleetproof.protocol.enroll import enrollment_challenge

    evidence = get_attestor(attestor)().attest(public_key_bytes(key), enrollment_challenge(token))
    return dataclasses.asdict(evidence)


def enroll(
    client: Any, zone: str = "eu-west", hostname: str = "gpu-host-1", attestor: str | None = None
) -> Enrolled:
    ensure_zone(client, zone)
    token = client.post("/api/v1/enrollment-tokens", json={"zone": zone}, headers=ADMIN_HEADERS).json()[
        "token"
    ]
    key = Ed25519PrivateKey.generate()
    body: dict[str, Any] = {"public_key": public_key_b64(key), "inventory": inventory(hostname)}
    if attestor is not None:
        body["attestation"] = attestation(attestor, key, token)
    r = client.post("/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return Enrolled(r.json()["device_id"], key, zone)


def signed(
    client: Any,
    dev: Enrolled,
    path: str,
    body: dict[str, Any] | bytes,
    *,
    now: float,
    method: str = "POST",
    device_id: str | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = sign_request(dev.key, device_id or dev.device_id, method, path, raw, now=now)
    headers["content-type"] = "application/json"
    return client.request(method, path, content=raw, headers=headers)


def telemetry_item(
    time_s: float, hostname: str = "gpu-host-1", gpus: int = 8, metrics: int = 20, item_id: str | None = None
) -> dict[str, Any]:
    names = ["temperature_c", "power_w", "sm_clock_mhz", "utilization_pct", "memory_used_bytes"]
    names += [f"extra_{k}_count" for k in range(metrics - len(names))]
    payload = {
        "time": time_s,
        "hostname": hostname,
        "accelerators": [
            {
                "uuid": f"GPU-{hostname}-{i}",
                "index": i,
                "vendor": "nvidia",
                "model": "NVIDIA H100 80GB HBM3",
                "metrics": {n: float(i * 10 + k) for k, n in enumerate(names[:metrics])},
            }
            for i in range(gpus)
        ],
        "host_metrics": {"load_1m": 1.5},
    }
    return {"id": item_id or str(uuid.uuid4()), "kind": "telemetry", "created_at": time_s, "payload": payload}


def health_item(time_s: float, state: str, uuid_: str | None, component: str = "xid") -> dict[str, Any]:
    payload = {
        "time": time_s,
        "component": component,
        "state": state,
        "reason": "Xid 79: GPU has fallen off the bus" if state == "unhealthy" else "no Xid errors",
        "suggested_action": "reset the GPU or reboot; replace if it recurs" if state == "unhealthy" else None,
        "device_uuid": uuid_,
    }
    return {"id": str(uuid.uuid4()), "kind": "health", "created_at": time_s, "payload": payload}


def record_item(
    dev: Enrolled, landmark_id: str, landmark_key: Ed25519PrivateKey, rtt_ms: float, time_s: float
) -> dict[str, Any]:
    rec = sign_record(
        key=landmark_key,
        device_id=dev.device_id,
        device_public_key=public_key_b64(dev.key),
        landmark_id=landmark_id,
        session_id=uuid.uuid4().hex[:16],
        samples_ms=[rtt_ms + 0.4, rtt_ms, rtt_ms + 1.1],
        lost=0,
        time=time_s,
    )
    return {
        "id": str(uuid.uuid4()),
        "kind": "probe_record",
        "created_at": time_s,
        "payload": rec.model_dump(mode="json"),
    }


def add_landmark(
    client: Any, lm_id: str, lat: float, lon: float, key: Ed25519PrivateKey, country: str | None = None
) -> None:
    body = {
        "id": lm_id,
        "lat": lat,
        "lon": lon,
        "address": "127.0.0.1:9000",
        "public_key": public_key_b64(key),
    }
    if country:
        body["country"] = country
    r = client.post("/api/v1/landmarks", json=body, headers=ADMIN_HEADERS)
    assert r.status_code == 201, r.text


def head_revision() -> str:
    """The newest schema revision the package ships (what ``migrate`` brings a store to)."""
    from importlib import resources

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(resources.files("fleetproof.server") / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
SERVER_TOKEN = "crash-test-admin-token"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    db: str,
    port: int,
    log: Any,
    *,
    env: dict[str, str] | None = None,
    nofile: int | None = None,
    background: bool = False,
    extra_args: tuple[str, ...] = (),
) -> Any:
    """``python -m fleetproof.server`` in a child process, returned once ``/healthz`` answers.

    ``nofile`` sets the child's open-file limit (soft and hard), as ``ulimit -n`` would.
    """
    import os
    import subprocess
    import sys
    import time

    import httpx

    def limit_files() -> None:
        import resource

        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    args = [sys.executable, "-m", "fleetproof.server", "--db", db, "--listen", f"127.0.0.1:{port}"]
    args += ["--admin-token", SERVER_TOKEN, "--log-level", "warning", *extra_args]
    if not background:
        args.append("--no-background")
    proc = subprocess.Popen(
        args,
        # The data directory (anchor key and file on PostgreSQL) stays beside the log, not in $HOME.
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "FLEETPROOF_DATA_DIR": str(log.parent / "data"),
            **(env or {}),
        },
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=limit_files,
    )
    deadline = time.monotonic() + 60  # start-up only: the child imports, migrates and binds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=10)
    raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")
