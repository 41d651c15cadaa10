"""Where an agent is put together: collectors, health checks, outbox, transport and exporters.

``agent scan`` (one look, nothing kept), ``agent run`` (the daemon) and the tests all build
their :class:`~fleetproof.agent.runner.Agent` here, so the three cannot drift apart: the
same settings give the same backends, the same checks and the same thresholds. What the
settings name comes from the registries (:mod:`fleetproof.agent.collectors.registry`,
:mod:`fleetproof.agent.checks.registry`); this module only wires.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors import registry
from fleetproof.agent.collectors.base import Collector
from fleetproof.agent.collectors.system import host_inventory
from fleetproof.agent.config import ENROLLMENT_FILE, Settings
from fleetproof.agent.inventory import load_inventory
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.runner import Agent, ProbeRound
from fleetproof.agent.transport import Transport
from fleetproof.errors import ConfigError, UnavailableError
from fleetproof.extras import EXTRA_MODULES, install_hint, missing_extra

__all__ = ["Stoppable", "assemble_agent", "build_collectors", "make_server_transport", "start_exporters"]

log = logging.getLogger("fleetproof.agent")


class Stoppable:
    """What :func:`start_exporters` returns: something that serves until stopped."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self.stop = stop


def build_collectors(
    settings: Settings, clock: Callable[[], float] | None = None, strict: bool = True
) -> list[Collector]:
    """The collectors the settings name (``auto``: every hardware backend present), plus the host's.

    A backend named explicitly but not available is an error when ``strict`` (``scan``); the
    daemon passes ``strict=False`` and keeps it, so that every round reports the failure as
    health (and the devices as missing) and the backend recovers when its driver comes back.
    """
    values = settings.collector_options()
    common: dict[str, Any] = {"clock": clock or time.time}

    def create(name: str) -> Collector:
        return registry.create(name, **common, **registry.option_arguments(name, values))

    names = list(dict.fromkeys(settings.list("backend") or ["auto"]))
    collectors = []
    for name in names:
        if name in ("system", "auto"):
            continue
        collector = create(name)
        if not collector.available():
            why = getattr(collector, "unavailable_reason", None)
            message = f"backend {name}: {why or 'no devices found, or its driver or library is missing'}"
            if name in EXTRA_MODULES and missing_extra(name):
                message += f" ({install_hint(name)})"
            if strict:
                raise UnavailableError(message)
            log.warning("%s; will keep trying every round", message)
        collectors.append(collector)
    if "auto" in names:
        collectors += _present_hardware(create, skip=set(names))
    collectors.append(create("system"))
    return collectors


def _present_hardware(create: Callable[[str], Collector], skip: set[str]) -> list[Collector]:
    found = []
    for name in sorted(registry.registered()):
        if name in skip or name in ("simulated", "system"):
            continue
        try:
            collector = create(name)
            if collector.available():
                found.append(collector)
                continue
            collector.close()
        except Exception:  # a broken vendor stack only means that backend is absent
            continue
    return found


def assemble_agent(
    settings: Settings,
    *,
    keep_state: bool,
    transport: Transport | None = None,
    probe_round: ProbeRound | None = None,
) -> Agent:
    """The agent the settings describe.

    ``keep_state`` is the daemon's agent: it creates the state directory, keeps an outbox and
    the inventory there, and keeps a backend that is named but absent (reporting it every
    round). Without it (``scan``), nothing is written and an absent named backend is an error.
    """
    state_dir = settings.resolved_state_dir()
    outbox = None
    if keep_state:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create state_dir {state_dir}: {exc.strerror}") from None
        outbox = Outbox(
            state_dir / "outbox.sqlite3",
            max_items=settings.outbox_max_items,
            max_bytes=settings.outbox_max_bytes,
            base_delay_s=settings.backoff_base_s,
            max_delay_s=settings.backoff_max_s,
        )
    hostname = settings.resolved_hostname()
    return Agent(
        collectors=build_collectors(settings, strict=not keep_state),
        components=create_all(settings.list("disabled_checks")),
        outbox=outbox,
        hostname=hostname,
        host_info=host_inventory(hostname),
        baseline=load_inventory(state_dir / "inventory.json"),
        inventory_path=state_dir / "inventory.json" if keep_state else None,
        thresholds=settings.thresholds(),
        transport=transport,
        batch_size=settings.outbox_batch_size,
        probe_round=probe_round,
        probe_interval_s=settings.probe_interval_s,
    )


def make_server_transport(settings: Settings) -> Transport | None:
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


def start_exporters(settings: Settings, agent: Agent) -> list[Stoppable]:
    """Start the local HTTP exporter (``listen``) and the OTLP exporter (``otlp_endpoint``) if set.

    The exporters' modules are imported only when configured: the OTLP SDK is an optional extra.
    """
    started: list[Stoppable] = []
    try:
        if settings.listen:
            from fleetproof.agent.export.http import ExporterServer, parse_listen

            host, port = parse_listen(settings.listen)
            server = ExporterServer(agent.state, agent.hostname, host, port, interval_s=settings.interval_s)
            server.start()
            started.append(Stoppable(server.stop))
            log.info("serving /metrics and /v1/* on http://%s:%d", *server.address)
        if settings.otlp_endpoint:
            from fleetproof.agent.export.otlp import OtlpExporter

            otlp = OtlpExporter(agent.state, agent.hostname, settings.otlp_endpoint, settings.otlp_interval_s)
            started.append(Stoppable(otlp.shutdown))
    except BaseException:
        for exporter in started:
            exporter.stop()
        raise
    return started
