"""``fleetproof agent run``: wire collectors, checks, outbox, exporters and transport, then loop.

Stops cleanly on SIGTERM or SIGINT: the current round finishes, the exporters
stop and the outbox is closed. Items already in the outbox stay there for the
next start; nothing committed is lost even on ``kill -9``.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from fleetproof.agent.checks.base import create_all
from fleetproof.agent.cli import build_collectors
from fleetproof.agent.collectors.system import host_inventory
from fleetproof.agent.config import ENROLLMENT_FILE
from fleetproof.agent.inventory import load_inventory
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.runner import Agent, ProbeRound
from fleetproof.agent.transport import Transport
from fleetproof.errors import ConfigError, UnavailableError

__all__ = ["build_agent", "make_server_transport", "run_daemon"]

log = logging.getLogger("fleetproof.agent")


def make_server_transport(settings: Any) -> Transport | None:
    """The server client's transport when ``server_url`` is set or the agent is enrolled, else None.

    Without a transport the outbox just fills, within its bounds. The client gets the
    settings with ``state_dir`` resolved, since its key and enrollment record live there.
    """
    state_dir = settings.resolved_state_dir()
    if not settings.server_url and not (state_dir / ENROLLMENT_FILE).exists():
        return None
    try:
        from fleetproof.agent.client import make_transport  # the fleet server part's HTTP client
    except ImportError as exc:
        raise UnavailableError(
            f"a server is configured but the server client is not installed: {exc}"
        ) from None
    transport: Transport = make_transport(settings.replace(state_dir=str(state_dir)))
    return transport


def build_agent(
    settings: Any,
    transport: Transport | None = None,
    probe_round: ProbeRound | None = None,
) -> Agent:
    state_dir = settings.resolved_state_dir()
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create state_dir {state_dir}: {exc.strerror}") from None
    hostname = settings.resolved_hostname()
    outbox = Outbox(
        state_dir / "outbox.sqlite3",
        max_items=settings.outbox_max_items,
        max_bytes=settings.outbox_max_bytes,
        base_delay_s=settings.backoff_base_s,
        max_delay_s=settings.backoff_max_s,
    )
    return Agent(
        collectors=build_collectors(settings, strict=False),
        components=create_all(settings.list("disabled_checks")),
        outbox=outbox,
        hostname=hostname,
        host_info=host_inventory(hostname),
        baseline=load_inventory(state_dir / "inventory.json"),
        inventory_path=state_dir / "inventory.json",
        thresholds=settings.thresholds(),
        transport=transport,
        batch_size=settings.outbox_batch_size,
        probe_round=probe_round,
        probe_interval_s=settings.probe_interval_s,
    )


def run_daemon(
    settings: Any,
    rounds: int | None = None,
    transport: Transport | None = None,
    probe_round: ProbeRound | None = None,
    stop: threading.Event | None = None,
) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if transport is None:
        transport = make_server_transport(settings)
    if probe_round is None:
        from fleetproof.agent.probing import make_probe_round

        probe_round = make_probe_round(settings)
    agent = build_agent(settings, transport, probe_round)
    stop = stop or threading.Event()
    exporters: list[Any] = []
    previous: dict[signal.Signals, Any] = {}
    try:
        if settings.listen:
            from fleetproof.agent.export.http import ExporterServer, parse_listen

            host, port = parse_listen(settings.listen)
            server = ExporterServer(agent.state, agent.hostname, host, port, interval_s=settings.interval_s)
            server.start()
            exporters.append(server)
            log.info("serving /metrics and /v1/* on http://%s:%d", *server.address)
        if settings.otlp_endpoint:
            from fleetproof.agent.export.otlp import OtlpExporter

            otlp = OtlpExporter(agent.state, agent.hostname, settings.otlp_endpoint, settings.otlp_interval_s)
            exporters.append(otlp)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        names = ", ".join(c.name for c in agent.collectors)
        log.info(
            "agent running: backends %s, every %.1f s, outbox %s",
            names,
            settings.interval_s,
            agent.outbox.path if agent.outbox is not None else "none",
        )
        agent.run(stop, settings.interval_s, max_rounds=rounds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for exporter in exporters:
            (exporter.stop if hasattr(exporter, "stop") else exporter.shutdown)()
        agent.close()
    return 0
