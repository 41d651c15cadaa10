"""A whole fleet on one machine: real server, real landmark daemons, real agents, emulated geography.

What runs, all on 127.0.0.1:

- one ``fleetproof landmark serve`` process per scenario landmark;
- one ``fleetproof server`` on SQLite in a temporary directory;
- one ``fleetproof agent run --backend simulated`` process per host, enrolled with a one-time token
  that names the host's id, probing the landmarks through delaying relays;
- the delaying relays themselves (:class:`fleetproof.probe.netem.RelayNetwork`) in this process: each
  (host, landmark) pair gets the one-way delay of the great-circle distance between the host's
  ``actual`` position and the landmark at 2/3 c, times the scenario network's inflation, plus both
  ends' access delays and jitter (:meth:`fleetproof.demo.scenario.Scenario.delay_ms`).

The server is told each host's zone and nothing of its ``actual`` position: the verdicts come from the
measurements alone. The landmark mesh is measured the same way (landmark to landmark through relays)
and handed to the server, which vets the landmarks and calibrates its delay model on it.
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fleetproof.demo.processes import Child, ProcessGroup
from fleetproof.demo.scenario import Host, Scenario
from fleetproof.demo.scenario import Landmark as ScenarioLandmark
from fleetproof.errors import ConfigError, UnavailableError

__all__ = ["DemoFleet", "DemoOptions"]

_LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")


@dataclass(frozen=True)
class DemoOptions:
    port: int = 8470
    admin_token: str = ""
    interval_s: float = 5.0
    probe_interval_s: float = 15.0
    probe_samples: int = 5
    mesh_samples: int = 3
    keep_dir: bool = False


class DemoFleet:
    """Start with :meth:`start`, stop with :meth:`stop` (also on errors: use it as a context manager)."""

    def __init__(self, scenario: Scenario, options: DemoOptions, say: Callable[[str], None] = print) -> None:
        self.scenario = scenario
        self.options = options
        self.token = options.admin_token or secrets.token_urlsafe(18)
        self.say = say
        self.workdir = Path(tempfile.mkdtemp(prefix="fleetproof-demo-"))
        self.group = ProcessGroup(self.workdir)
        self.server_url = f"http://127.0.0.1:{options.port}"
        self.landmarks: dict[str, Any] = {}  # id -> LandmarkEntry: real address, actual position
        self._scenario_landmarks = {lm.id: lm for lm in scenario.landmarks}
        self._landmark_keys: dict[str, Any] = {}
        self._relays: Any = None
        self.agents: dict[str, Child] = {}

    @property
    def dashboard_url(self) -> str:
        return f"{self.server_url}/#token={self.token}"

    def __enter__(self) -> DemoFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- start -----------------------------------------------------------------------------
    def start(self) -> None:
        from fleetproof.probe.netem import DelayModel, RelayNetwork

        self._start_landmarks()
        # The scenario computes each pair's delay; the relays' own model adds only the jitter.
        self._relays = RelayNetwork(model=DelayModel(jitter_ms=self.scenario.network.jitter_ms))
        self._relays.start()
        self._start_server()
        with self._admin() as client:
            self._configure(client)
            self._measure_mesh(client)
            tokens = self._tokens(client)
        self._start_agents(tokens)

    def _start_landmarks(self) -> None:
        from fleetproof.probe.keys import generate_key, save_private_key
        from fleetproof.probe.records import LandmarkEntry

        key_dir = self.workdir / "landmarks"
        key_dir.mkdir()
        started = []
        for lm in self.scenario.landmarks:
            key = generate_key()
            key_path = key_dir / f"{lm.id}.key"
            save_private_key(key, key_path)
            self._landmark_keys[lm.id] = key
            args = ["landmark", "serve", "--id", lm.id, "--lat", str(lm.lat), "--lon", str(lm.lon)]
            child = self.group.start(
                f"landmark-{lm.id}", [*args, "--listen", "127.0.0.1:0", "--key", str(key_path)]
            )
            started.append((lm, key, child))
        for lm, key, child in started:
            found: list[re.Match[str]] = []

            def listening(child: Child = child, found: list[re.Match[str]] = found) -> bool:
                match = _LISTENING.search(child.log_tail(50))
                if match:
                    found.append(match)
                return bool(match)

            self.group.wait_for(child, listening, timeout_s=30, what="its listening address")
            host, port = found[0].group(1), found[0].group(2)
            # Where the landmark really is: the relays' delays come from here, not from its advertisement.
            where = lm.where
            self.landmarks[lm.id] = LandmarkEntry(
                lm.id, where.lat, where.lon, f"{host}:{port}", key.public_key()
            )
        self.say(f"  {len(self.landmarks)} landmarks answering on 127.0.0.1")

    def _start_server(self) -> None:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", self.options.port))
            except OSError:
                raise ConfigError(
                    f"port {self.options.port} on 127.0.0.1 is in use; choose another with --port"
                ) from None
        db = f"sqlite:///{self.workdir / 'fleet.db'}"
        args = ["server", "--db", db, "--listen", f"127.0.0.1:{self.options.port}"]
        # Judge a host 1 s after its probe round lands (the default waits 5 s for stragglers).
        env = {"FLEETPROOF_VERDICT_DEBOUNCE_S": "1"}
        child = self.group.start("server", [*args, "--admin-token", self.token], env=env)

        def up() -> bool:
            try:
                return httpx.get(f"{self.server_url}/openapi.json", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        self.group.wait_for(child, up, timeout_s=60, what="an answer on /openapi.json")
        self.say(f"  server on {self.server_url} (SQLite in {self.workdir})")

    def _admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    @staticmethod
    def _check(response: httpx.Response, what: str) -> Any:
        if response.status_code >= 400:
            raise UnavailableError(f"server refused {what}: {response.status_code} {response.text[:300]}")
        return response.json()

    def _configure(self, client: httpx.Client) -> None:
        for zone in self.scenario.zones:
            body: dict[str, Any] = {"id": zone.id, "allowed_countries": zone.allowed_countries}
            if zone.lat is not None:
                body.update(site_name=zone.id, site_lat=zone.lat, site_lon=zone.lon)
            self._check(client.post("/api/v1/zones", json=body), f"zone {zone.id}")
        from fleetproof.probe.statement import sign_statement

        for lm in self.scenario.landmarks:
            entry = self.landmarks[lm.id]
            body = {"id": lm.id, "lat": lm.lat, "lon": lm.lon, "address": entry.address}
            # Each landmark signs its advertised position (a mislocated one signs its lie).
            statement = sign_statement(
                self._landmark_keys[lm.id], landmark_id=lm.id, lat=lm.lat, lon=lm.lon, time=time.time()
            )
            body.update(public_key=entry.public_key_b64, country=lm.country, statement=statement.model_dump())
            self._check(client.post("/api/v1/landmarks", json=body), f"landmark {lm.id}")

    def _measure_mesh(self, client: httpx.Client) -> None:
        """Every landmark probes every other one through relays placed at its own position."""
        from fleetproof.probe.mesh import build_mesh, run_mesh
        from fleetproof.probe.prober import UdpTransport

        def one(lm_id: str) -> list[Any]:
            me = self.landmarks[lm_id]
            others = [e for i, e in self.landmarks.items() if i != lm_id]
            directory = {
                e.id: e for e in self._relays.relayed(others, self._delay(self._scenario_landmarks[lm_id]))
            }
            directory[lm_id] = me
            key = self._landmark_keys[lm_id]
            samples = self.options.mesh_samples
            return run_mesh(lm_id, key, directory, UdpTransport(), samples=samples, concurrency=4)

        with ThreadPoolExecutor(max_workers=len(self.landmarks)) as pool:
            records = [r for batch in pool.map(one, list(self.landmarks)) for r in batch]
        mesh, problems = build_mesh(records, self.landmarks)
        for problem in problems:
            self.say(f"  mesh: {problem}")
        # The signed records themselves, so that evidence bundles can show them (the server checks each).
        keys = {i: e.public_key_b64 for i, e in self.landmarks.items()}
        body = {"records": [r.model_dump(mode="json") for r in records if _mesh_record_ok(r, keys)]}
        vetting = self._check(client.post("/api/v1/landmarks/mesh", json=body), "the landmark mesh")
        quarantined = ", ".join(vetting.get("quarantined", [])) or "none"
        self.say(f"  landmark mesh: {len(mesh)} pairs measured; quarantined: {quarantined}")

    def _tokens(self, client: httpx.Client) -> dict[str, str]:
        tokens = {}
        for host in self.scenario.hosts:
            body = {"zone": host.zone, "device_id": host.id}
            tokens[host.id] = self._check(client.post("/api/v1/enrollment-tokens", json=body), "a token")[
                "token"
            ]
        return tokens

    def _start_agents(self, tokens: dict[str, str]) -> None:
        from fleetproof.agent.client import enroll
        from fleetproof.agent.enroll_cli import attest_with, host_inventory
        from fleetproof.probe.records import write_landmark_directory

        for number, host in enumerate(self.scenario.hosts):
            state_dir = self.workdir / "agents" / host.id
            state_dir.mkdir(parents=True)
            token = tokens[host.id]
            # As `agent enroll` does by default: software evidence, which says it is not hardware.
            enroll(
                self.server_url,
                token,
                state_dir,
                host_inventory(host.id),
                attest=attest_with("software", token),
            )
            relayed = self._relays.relayed(self.landmarks.values(), self._delay(host))
            write_landmark_directory(state_dir / "landmarks.csv", relayed)
            self.agents[host.id] = self.group.start(
                f"agent-{host.id}",
                ["agent", "run", "--backend", "simulated"],
                env=self._agent_env(host, number),
            )
        self.say(
            f"  {len(self.agents)} agents running (simulated accelerators), probing every "
            f"{self.options.probe_interval_s:g} s"
        )

    def _delay(self, here: Host | ScenarioLandmark) -> Callable[[Any], float]:
        """The one-way delay from ``here`` to a landmark directory entry, by the scenario's network."""
        return lambda entry: self.scenario.delay_ms(here, self._scenario_landmarks[entry.id])

    def _agent_env(self, host: Host, number: int) -> dict[str, str]:
        state_dir = self.workdir / "agents" / host.id
        values = {
            "STATE_DIR": str(state_dir),
            "HOSTNAME": host.id,
            "LISTEN": "",
            "INTERVAL_S": str(self.options.interval_s),
            "PROBE_INTERVAL_S": str(self.options.probe_interval_s),
            "PROBE_SAMPLES": str(self.options.probe_samples),
            "LANDMARKS_FILE": str(state_dir / "landmarks.csv"),
            "SIMULATED_DEVICES": str(host.accelerators),
            "SIMULATED_SEED": str(number + 1),
            "SIMULATED_VENDOR": host.vendor,
            "SIMULATED_FAULTS": ",".join(host.faults),
            "OUTBOX_BATCH_SIZE": "200",
            "BACKOFF_MAX_S": "5",
        }
        return {f"FLEETPROOF_AGENT_{name}": value for name, value in values.items()}

    # -- while running ---------------------------------------------------------------------
    def devices(self) -> list[dict[str, Any]]:
        with self._admin() as client:
            result: list[dict[str, Any]] = self._check(client.get("/api/v1/devices"), "the device list")
            return result

    def check_children(self) -> None:
        """Raise if a child died: the demo is no use with a part missing."""
        for child in self.group.failed():
            raise UnavailableError(
                f"{child.name} stopped with status {child.process.returncode}:\n{child.log_tail()}"
            )

    # -- stop --------------------------------------------------------------------------------
    def stop(self) -> None:
        self.group.stop()
        if self._relays is not None:
            self._relays.stop()
            self._relays = None
        if self.options.keep_dir:
            self.say(f"  kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _mesh_record_ok(record: Any, keys: dict[str, str]) -> bool:
    from fleetproof.evidence.signed import check_mesh_record
    from fleetproof.probe.records import RecordError

    try:
        check_mesh_record(record, keys)
    except RecordError:
        return False  # build_mesh has said why
    return True
