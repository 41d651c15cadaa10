"""An abuse campaign against a real fleet server: the figures of docs/benchmarks.md ("Server under abuse").

It starts ``python -m fleetproof.server`` on SQLite in a temporary directory, under an
open-file limit of 1,024 (as ``ulimit -n 1024``), and measures:

1. **Body flood**: 32 clients at once each send a 15.5 MiB body to ``/api/v1/ingest``
   without the device key — half with no credentials at all, half with a forged signature
   in the name of 16 different enrolled devices (an attacker who knows device ids), three
   rounds. Reported: the status codes, the server's peak RSS over its idle RSS, and
   ``/healthz`` latency (p50, p99, from a process of its own) during the flood against the
   same figure idle.
2. **Connection exhaustion**: 1,100 idle, half-sent and trickling connections from
   127.0.0.2; reported: how many the server refused at once, and ``/healthz`` and a signed
   ingest from 127.0.0.1 meanwhile.
3. **kill -9 mid-delivery**: an agent delivers 2,000 telemetry items in batches of 25; the
   server is killed after 40 acknowledged batches with the next request in flight, started
   again, and the agent re-delivers. Reported: items lost (acknowledged but not stored) and
   stored twice.

Run::

    .venv/bin/python benchmarks/server_campaign.py [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fleetproof.agent.client import HttpTransport, enroll  # noqa: E402
from fleetproof.agent.enroll_cli import host_inventory  # noqa: E402
from fleetproof.agent.transport import OutboxItem, TransportError  # noqa: E402
from fleetproof.probe.keys import generate_key, load_private_key, public_key_b64  # noqa: E402
from fleetproof.protocol.reqsign import sign_request  # noqa: E402

TOKEN = "campaign-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
BODY_BYTES = int(15.5 * 1024 * 1024)
FLOODERS = 32
ROUNDS = 3  # the flood is repeated so that /healthz is sampled often enough for a p99


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER_SRC = ROOT / "src"  # --server-src: another tree's server, e.g. a baseline checkout


def start_server(db: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    cmd = [sys.executable, "-m", "fleetproof.server", "--db", db, "--listen", f"127.0.0.1:{port}"]
    cmd += ["--admin-token", TOKEN, "--no-background", "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(SERVER_SRC), "FLEETPROOF_DATA_DIR": str(log.parent / "data")}
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, preexec_fn=limit)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")


def telemetry(t: float) -> OutboxItem:
    payload = {
        "time": t,
        "hostname": "campaign-host",
        "accelerators": [
            {
                "uuid": f"GPU-{i}",
                "index": i,
                "vendor": "nvidia",
                "model": "H100",
                "metrics": {f"m{k}_count": float(k) for k in range(20)},
            }
            for i in range(8)
        ],
        "host_metrics": {"load_1m": 1.0},
    }
    return OutboxItem(id=str(uuid.uuid4()), kind="telemetry", created_at=t, payload=payload)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


SAMPLER = """
import sys, time, httpx
base = sys.argv[1]
with httpx.Client(timeout=10) as client:
    while True:
        started = time.perf_counter()
        client.get(base + "/healthz")
        print((time.perf_counter() - started) * 1000, flush=True)
        time.sleep(0.005)
"""


class HealthzSampler:
    """``/healthz`` latency measured from a process of its own (the flood's threads would
    otherwise hold this process's interpreter lock and inflate the figure)."""

    def __init__(self, base: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SAMPLER, base],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def stop(self) -> list[float]:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return [float(line) for line in out.split()[1:] if line.strip()]  # the first includes connecting


def rss_sampler(pid: int, stop: threading.Event, peak: list[int]) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.02)


def flood_one(
    port: int, headers: dict[str, str], body: bytes, codes: Counter[str], lock: threading.Lock
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    outcome = "reset"
    try:
        conn.putrequest("POST", "/api/v1/ingest")
        for k, v in {**headers, "Content-Length": str(len(body)), "Content-Type": "application/json"}.items():
            conn.putheader(k, v)
        conn.endheaders()
        view = memoryview(body)
        try:
            for start in range(0, len(body), 256 * 1024):
                conn.send(view[start : start + 256 * 1024])
        except OSError:
            pass  # the server answered early and closed: read what it said
        outcome = str(conn.getresponse().status)
    except (OSError, http.client.HTTPException):
        pass
    finally:
        conn.close()
    with lock:
        codes[outcome] += 1


def body_flood(base: str, port: int, pid: int, device_ids: list[str]) -> dict[str, Any]:
    sampler = HealthzSampler(base)
    time.sleep(3.0)
    idle = sampler.stop()
    idle_rss = psutil.Process(pid).memory_info().rss
    body = b"x" * BODY_BYTES
    # Forged: signed with a key that is not the device's, each flooder in another device's name.
    forged = [sign_request(generate_key(), d, "POST", "/api/v1/ingest", b"anything") for d in device_ids]
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    peak = [idle_rss]
    stop = threading.Event()
    watcher = threading.Thread(target=rss_sampler, args=(pid, stop, peak))
    watcher.start()
    sampler = HealthzSampler(base)
    time.sleep(0.5)  # the sampler is connected and measuring before the flood starts
    started = time.perf_counter()
    for _ in range(ROUNDS):
        flooders = [
            threading.Thread(
                target=flood_one,
                args=(port, forged[i // 2 % len(forged)] if i % 2 else {}, body, codes, lock),
            )
            for i in range(FLOODERS)
        ]
        for f in flooders:
            f.start()
        for f in flooders:
            f.join()
    flood_s = time.perf_counter() - started
    during = sampler.stop()
    stop.set()
    watcher.join()
    return {
        "bodies": FLOODERS,
        "rounds": ROUNDS,
        "body_mib": BODY_BYTES / 2**20,
        "status_codes": dict(codes),
        "flood_s": round(flood_s, 2),
        "rss_idle_mb": round(idle_rss / 1e6, 1),
        "rss_peak_mb": round(peak[0] / 1e6, 1),
        "rss_growth_mb": round((peak[0] - idle_rss) / 1e6, 1),
        "healthz_idle_p50_ms": round(statistics.median(idle), 2),
        "healthz_idle_p99_ms": round(percentile(idle, 0.99), 2),
        "healthz_flood_p50_ms": round(statistics.median(during), 2) if during else None,
        "healthz_flood_p99_ms": round(percentile(during, 0.99), 2) if during else None,
        "healthz_samples": len(during),
    }


def exhaustion(base: str, port: int, transport: HttpTransport) -> dict[str, Any]:
    socks = []
    for i in range(1100):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        if i % 3 == 1:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
        elif i % 3 == 2:
            s.sendall(b"POST /api/v1/zones HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
        socks.append(s)
    started = time.perf_counter()
    try:
        status: int | str = httpx.get(f"{base}/healthz", timeout=10).status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    healthz_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    # Signed in the first request-signature version, which servers before it understand too.
    raw = json.dumps({"items": [telemetry(time.time()).__dict__]}).encode()
    headers = sign_request(transport.key, transport.device_id, "POST", "/api/v1/ingest", raw, version=1)
    try:
        ingest: int | str = httpx.post(
            f"{base}/api/v1/ingest", content=raw, headers=headers, timeout=10
        ).status_code
    except httpx.HTTPError as exc:
        ingest = type(exc).__name__
    ingest_ms = (time.perf_counter() - started) * 1000
    refused = 0
    for s in socks:
        s.settimeout(0.05)
        try:
            got = s.recv(64)
            refused += got.startswith(b"HTTP/1.1 503") or got == b""
        except (TimeoutError, ConnectionResetError):
            refused += isinstance(sys.exc_info()[1], ConnectionResetError)
        s.close()
    return {
        "connections": len(socks),
        "refused_at_once": refused,
        "healthz_status": status,
        "healthz_ms": round(healthz_ms, 1),
        "signed_ingest_status": ingest,
        "signed_ingest_ms": round(ingest_ms, 1),
    }


class KillAfter:
    """HTTP client: after ``after`` posts, the next is sent in full, then the server is killed."""

    def __init__(self, pid: int, after: int) -> None:
        from fleetproof.agent.client import StdlibClient

        self.pid, self.after, self.sent, self.inner = pid, after, 0, StdlibClient(10.0)

    def get(self, url: str, *, headers: Any) -> Any:
        return self.inner.get(url, headers=headers)

    def post(self, url: str, *, content: bytes, headers: Any) -> Any:
        self.sent += 1
        if self.sent != self.after + 1:
            return self.inner.post(url, content=content, headers=headers)
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        head = [f"POST {parts.path} HTTP/1.1", "Host: x", f"Content-Length: {len(content)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        with socket.create_connection((parts.hostname, parts.port)) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + content)
            os.kill(self.pid, signal.SIGKILL)
        raise OSError("server killed mid-request")


def kill_mid_delivery(db: str, port: int, log: Path, proc: Any, device_id: str, key: Any) -> dict[str, Any]:
    from sqlalchemy import select

    from fleetproof.server.store.db import Database
    from fleetproof.server.store.models import TelemetryRecord

    base = f"http://127.0.0.1:{port}"
    killer = KillAfter(proc.pid, after=40)
    transport = HttpTransport(base, device_id, key, client=killer)
    pending = [telemetry(time.time() - 250 + i * 0.1) for i in range(2000)]
    sent = {i.id for i in pending}
    acked: list[str] = []
    while pending:
        try:
            transport.send(pending[:25])
        except TransportError:
            break
        acked += [i.id for i in pending[:25]]
        del pending[:25]
    proc.wait(timeout=10)
    proc = start_server(db, port, log)
    transport = HttpTransport(base, device_id, key)
    while pending:
        transport.send(pending[:200])
        del pending[:200]
    store = Database(db)
    with store.read() as s:
        ids = list(s.scalars(select(TelemetryRecord.item_id)))
    store.dispose()
    return {
        "items": 2000,
        "acknowledged_before_kill": len(acked),
        "lost": len(set(acked) - set(ids)),
        "stored_twice": len(ids) - len(set(ids)),  # (item ids are unique per device in the store)
        "stored": len(set(ids) & sent),
        "proc": proc,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument(
        "--server-src",
        help="run the server from this source tree instead (a baseline; the kill -9 phase is skipped, "
        "since it needs this tree's agent protocol)",
    )
    args = parser.parse_args()
    global SERVER_SRC
    if args.server_src:
        SERVER_SRC = Path(args.server_src).resolve()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    with tempfile.TemporaryDirectory(prefix="fleetproof-campaign-") as tmp:
        root = Path(tmp)
        db, port, log = f"sqlite:///{root / 'store.db'}", free_port(), root / "server.log"
        base = f"http://127.0.0.1:{port}"
        proc = start_server(db, port, log)
        try:
            httpx.post(f"{base}/api/v1/zones", json={"id": "z", "allowed_countries": ["DE"]}, headers=ADMIN)
            token = httpx.post(f"{base}/api/v1/enrollment-tokens", json={"zone": "z"}, headers=ADMIN).json()[
                "token"
            ]
            identity = enroll(base, token, root / "agent", host_inventory("campaign-host"))
            key = load_private_key(root / "agent" / "device.key")
            transport = HttpTransport(base, identity.device_id, key)
            figures: dict[str, Any] = {"cpu_count": os.cpu_count(), "server_nofile": 1024}
            others = []
            for n in range(FLOODERS // 2 - 1):  # device ids the attacker knows (not their keys)
                tok = httpx.post(f"{base}/api/v1/enrollment-tokens", json={"zone": "z"}, headers=ADMIN).json()
                body = {
                    "public_key": public_key_b64(generate_key()),
                    "inventory": host_inventory(f"h{n}").to_dict(),
                }
                r = httpx.post(
                    f"{base}/api/v1/enroll", json=body, headers={"Authorization": f"Bearer {tok['token']}"}
                )
                others.append(r.json()["device_id"])
            figures["body_flood"] = body_flood(base, port, proc.pid, [identity.device_id, *others])
            print("body flood:", json.dumps(figures["body_flood"]), flush=True)
            figures["exhaustion"] = exhaustion(base, port, transport)
            print("connection exhaustion:", json.dumps(figures["exhaustion"]), flush=True)
            if not args.server_src:
                delivery = kill_mid_delivery(db, port, log, proc, identity.device_id, key)
                proc = delivery.pop("proc")
                figures["kill_9"] = delivery
                print("kill -9 mid-delivery:", json.dumps(delivery), flush=True)
        finally:
            proc.kill()
            proc.wait(timeout=10)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
