"""``fleetproof agent run``: the agent that :mod:`fleetproof.agent.assemble` builds, in a loop.

Stops cleanly on SIGTERM or SIGINT: the current round finishes, the exporters
stop and the outbox is closed. Items already in the outbox stay there for the
next start; nothing committed is lost even on ``kill -9``.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from fleetproof.agent.assemble import Stoppable, assemble_agent, make_server_transport, start_exporters
from fleetproof.agent.config import Settings
from fleetproof.agent.runner import ProbeRound
from fleetproof.agent.transport import Transport

__all__ = ["run_daemon"]

log = logging.getLogger("fleetproof.agent")


def run_daemon(
    settings: Settings,
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
    agent = assemble_agent(settings, keep_state=True, transport=transport, probe_round=probe_round)
    stop = stop or threading.Event()
    exporters: list[Stoppable] = []
    previous: dict[signal.Signals, Any] = {}
    try:
        exporters = start_exporters(settings, agent)
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
            exporter.stop()
        agent.close()
    return 0
