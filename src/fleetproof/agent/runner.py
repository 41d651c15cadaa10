"""The agent's round: collect, judge, record, enqueue, deliver — and the loop that repeats it.

One thread runs rounds; the HTTP exporter reads :class:`AgentState` under its
lock, so a scrape never waits for a collection. A round never raises because one
backend failed: the collection health component reports it instead.

Hooks left open for parts that plug in later:

* ``transport``: anything with ``send(items)`` (the server client, a test double);
  without one the outbox just fills, within its bound.
* ``probe_round``: a callable returning probe records (dicts); it runs every
  ``probe_interval_s`` and its records are enqueued as kind ``probe_record``. A round that
  raises :class:`~fleetproof.errors.UnavailableError` (the server's landmark list out of
  reach, say) is logged in one line and tried again after ``probe_retry_s``, doubling on
  each further failure up to ``probe_interval_s``: waiting a whole interval (5 minutes by
  default) after a server restart would leave the host unverified for no reason.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from fleetproof.agent.checks.base import CheckContext, Component, HealthResult, worst
from fleetproof.agent.checks.xid_catalog import describe as describe_xid
from fleetproof.agent.collectors.base import Collector, DeviceInfo, Snapshot, collect_safely
from fleetproof.agent.inventory import InventoryChange, diff_inventory, save_inventory
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.transport import ItemKind, Transport
from fleetproof.errors import UnavailableError
from fleetproof.protocol.wire_plain import (
    AcceleratorInventory,
    AcceleratorSample,
    HealthEvent,
    HostInventory,
    InventoryReport,
    TelemetryReport,
    fit,
)

__all__ = ["Agent", "AgentState"]

log = logging.getLogger("fleetproof.agent")
ProbeRound = Callable[[], list[dict[str, Any]]]


@dataclass
class AgentState:
    """What the exporters show: the latest round's readings, health and inventory."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    rounds: int = 0
    last_round_time: float | None = None
    snapshots: list[Snapshot] = field(default_factory=list)
    results: list[HealthResult] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    inventory: InventoryReport | None = None
    telemetry: TelemetryReport | None = None
    xid_counts: dict[tuple[str, int], int] = field(default_factory=dict)
    xid_last: dict[str, int] = field(default_factory=dict)  # device uuid -> latest Xid code
    # (device uuid, catalog severity) -> Xids seen, judged with the message (Xid 154 names its action)
    xid_severity_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    outbox_stats: dict[str, float] = field(default_factory=dict)
    # Called after each round is published, outside the lock, on the collection thread: the
    # exporter renders /metrics there, so a scrape never waits for a render.
    listeners: list[Callable[[], None]] = field(default_factory=list)

    def overall(self) -> str:
        if self.rounds == 0:
            return "initializing"
        return worst([r.state for r in self.results])


class Agent:
    """Collectors + health components + outbox, run one round at a time."""

    def __init__(
        self,
        *,
        collectors: list[Collector],
        components: list[Component],
        outbox: Outbox | None,
        hostname: str,
        host_info: dict[str, Any] | None = None,
        baseline: list[DeviceInfo] | None = None,
        inventory_path: Any = None,
        thresholds: dict[str, float] | None = None,
        transport: Transport | None = None,
        batch_size: int = 100,
        probe_round: ProbeRound | None = None,
        probe_interval_s: float = 300.0,
        probe_retry_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.collectors = collectors
        self.components = components
        self.outbox = outbox
        self.hostname = hostname
        self.host_info = host_info or {"hostname": hostname}
        self.baseline = list(baseline or [])
        self.inventory_path = inventory_path
        self.thresholds = thresholds or {}
        self.transport = transport
        self.batch_size = batch_size
        self.probe_round = probe_round
        self.probe_interval_s = probe_interval_s
        self.probe_retry_s = probe_retry_s
        self._probe_failures = 0
        self.clock = clock
        self.state = AgentState(components=[c.name for c in components])
        self._last_states: dict[tuple[str, str | None, str | None], str] = {}
        self._last_inventory: list[DeviceInfo] | None = None
        self._next_probe_at = 0.0

    # -- one round ---------------------------------------------------------
    def round(self) -> list[HealthResult]:
        """Collect, check, enqueue, deliver once; return the health results."""
        now = self.clock()
        snapshots = [collect_safely(c, self.clock) for c in self.collectors]
        for snap in snapshots:
            _drop_non_numbers(snap)
        devices = [d.info for s in snapshots for d in s.devices]
        changes = self._inventory_changes(devices)
        ctx = CheckContext(now, snapshots, baseline=list(self.baseline), thresholds=self.thresholds)
        results: list[HealthResult] = []
        for comp in self.components:
            try:
                results.extend(comp.check(ctx))
            except Exception as exc:  # a broken plugin must not stop the agent
                log.exception("health component %s failed", comp.name)
                results.append(HealthResult(comp.name, "unhealthy", f"check failed: {exc}", None))
        inventory = self._inventory_report(now, devices)
        telemetry = self._telemetry_report(now, snapshots)
        entries = self._outbox_entries(now, results, changes, telemetry, inventory)
        entries += self._probe_entries(now)
        try:
            if self.outbox is not None and entries:
                self.outbox.put_many(entries)
            self._deliver()
        except sqlite3.Error as exc:
            # A full disk or a damaged outbox must not stop collection or the local endpoints.
            log.error("outbox: %s", exc)
            why = f"cannot store in the outbox: {exc}"
            act = "Free disk space in the state directory, or check the outbox file."
            results.append(HealthResult("outbox", "unhealthy", why, act))
        self._publish(now, snapshots, results, inventory, telemetry)
        for listener in list(self.state.listeners):
            try:
                listener()
            except Exception:  # an exporter's failure must not stop collection
                log.exception("a listener of the agent's rounds failed")
        return results

    def _inventory_changes(self, devices: list[DeviceInfo]) -> list[InventoryChange]:
        reference = self._last_inventory if self._last_inventory is not None else self.baseline
        # The very first discovery on a host (no saved inventory) is not a change.
        changes = diff_inventory(reference, devices) if reference or self._last_inventory is not None else []
        new_baseline = {d.uuid: d for d in self.baseline}
        for change in changes:
            if change.kind == "swapped" and change.old_uuid:
                new_baseline.pop(change.old_uuid, None)
        for d in devices:
            new_baseline[d.uuid] = d  # removed devices stay in the baseline: they are missing
        baseline = sorted(new_baseline.values(), key=lambda d: (d.vendor, d.index))
        if baseline != self.baseline and self.inventory_path is not None:
            try:
                save_inventory(self.inventory_path, baseline)
            except OSError as exc:
                log.warning("cannot save inventory to %s: %s", self.inventory_path, exc)
        self.baseline = baseline
        self._last_inventory = devices
        return changes

    def _inventory_report(self, now: float, devices: list[DeviceInfo]) -> InventoryReport:
        accs = [AcceleratorInventory(**fit(AcceleratorInventory, asdict(d))) for d in devices[:256]]
        host = HostInventory(**fit(HostInventory, self.host_info))
        return InventoryReport(time=now, host=host, accelerators=accs)

    def _telemetry_report(self, now: float, snapshots: list[Snapshot]) -> TelemetryReport:
        samples = [
            AcceleratorSample(
                **fit(
                    AcceleratorSample,
                    {
                        "uuid": d.info.uuid,
                        "index": d.info.index,
                        "vendor": d.info.vendor,
                        "model": d.info.model,
                        "metrics": dict(list(d.metrics.items())[:256]),
                    },
                )
            )
            for s in snapshots
            for d in s.devices
            if not d.lost
        ]
        host: dict[str, float] = {}
        for s in snapshots:
            host.update(s.host_metrics)
        return TelemetryReport(time=now, hostname=self.hostname, accelerators=samples, host_metrics=host)

    def _outbox_entries(
        self,
        now: float,
        results: list[HealthResult],
        changes: list[InventoryChange],
        telemetry: TelemetryReport,
        inventory: InventoryReport,
    ) -> list[tuple[ItemKind, dict[str, Any], str | None]]:
        entries: list[tuple[ItemKind, dict[str, Any], str | None]] = [
            ("telemetry", telemetry.to_dict(), None)
        ]
        if changes or self.state.rounds == 0:
            entries.append(("inventory", inventory.to_dict(), None))
        for change in changes:
            state = {"removed": "unhealthy", "changed": "healthy"}.get(change.kind, "degraded")
            action = None if state == "healthy" else "Confirm that the hardware change was planned."
            event = HealthEvent(
                time=now,
                component="inventory",
                state=state,  # type: ignore[arg-type]
                reason=change.describe()[:2000],
                suggested_action=action,
                device_uuid=change.uuid,
            )
            entries.append(("health", event.to_dict(), None))
        current: dict[tuple[str, str | None, str | None], HealthResult] = {
            (r.component, r.device_uuid, r.subject): r for r in results
        }
        for key, result in current.items():
            if self._last_states.get(key) != result.state:
                entries.append(("health", _event(now, result).to_dict(), None))
        for key, old_state in self._last_states.items():
            if key not in current and old_state != "healthy":
                what = f"{key[2]}: condition cleared" if key[2] else "condition cleared"
                recovered = HealthResult(key[0], "healthy", what, None, key[1], subject=key[2])
                entries.append(("health", _event(now, recovered).to_dict(), None))
        self._last_states = {k: r.state for k, r in current.items()}
        return entries

    def _probe_entries(self, now: float) -> list[tuple[ItemKind, dict[str, Any], str | None]]:
        if self.probe_round is None or now < self._next_probe_at:
            return []
        self._next_probe_at = now + self.probe_interval_s
        try:
            records = self.probe_round()
        except UnavailableError as exc:
            self._probe_failures += 1
            delay = min(self.probe_interval_s, self.probe_retry_s * 2 ** min(self._probe_failures - 1, 20))
            self._next_probe_at = now + delay
            log.error("probe round skipped: %s; trying again in %.0f s", exc, delay)
            return []
        except Exception:
            log.exception("probe round failed")
            return []
        self._probe_failures = 0
        return [("probe_record", dict(r), str(r["id"]) if "id" in r else None) for r in records]

    def _deliver(self) -> None:
        if self.outbox is None or self.transport is None:
            return
        report = self.outbox.deliver(self.transport, batch_size=self.batch_size)
        if report.failed:
            log.warning(
                "delivery failed (%s); retrying in about %.0f s",
                report.error,
                self.outbox.next_attempt_at - self.clock(),
            )

    def _publish(
        self,
        now: float,
        snapshots: list[Snapshot],
        results: list[HealthResult],
        inventory: InventoryReport,
        telemetry: TelemetryReport,
    ) -> None:
        with self.state.lock:
            for s in snapshots:
                for d in s.devices:
                    for e in d.xid_events:
                        key = (d.info.uuid, e.code)
                        self.state.xid_counts[key] = self.state.xid_counts.get(key, 0) + 1
                        self.state.xid_last[d.info.uuid] = e.code
                        sev = (d.info.uuid, describe_xid(e.code, e.message).severity)
                        self.state.xid_severity_counts[sev] = self.state.xid_severity_counts.get(sev, 0) + 1
            self.state.rounds += 1
            self.state.last_round_time = now
            self.state.snapshots = snapshots
            self.state.results = results
            self.state.inventory = inventory
            self.state.telemetry = telemetry
            self.state.outbox_stats = self.outbox.stats() if self.outbox is not None else {}

    # -- the loop ----------------------------------------------------------
    def run(self, stop: threading.Event, interval_s: float, max_rounds: int | None = None) -> None:
        """Run rounds every ``interval_s`` until ``stop`` is set (or ``max_rounds`` are done)."""
        done = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.round()
            except Exception:
                log.exception("collection round failed")
            done += 1
            if max_rounds is not None and done >= max_rounds:
                break
            stop.wait(max(0.0, interval_s - (time.monotonic() - started)))

    def close(self) -> None:
        for c in self.collectors:
            try:
                c.close()
            except Exception:
                log.exception("closing collector %s failed", c.name)
        if self.outbox is not None:
            self.outbox.close()


def _drop_non_numbers(snap: Snapshot) -> None:
    """A reading that is None, NaN or infinite counts as not reported (absent, like an unsupported
    one): otherwise one odd value fails the wire model and so the round, makes a rate out of NaN
    (a false ECC storm), or puts bare NaN into JSON."""

    def keep(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

    for dev in snap.devices:
        dev.metrics = {k: v for k, v in dev.metrics.items() if keep(v)}
    snap.host_metrics = {k: v for k, v in snap.host_metrics.items() if keep(v)}


def _event(now: float, r: HealthResult) -> HealthEvent:
    return HealthEvent(
        time=now,
        component=r.component[:64],
        state=r.state,  # type: ignore[arg-type]
        reason=r.reason[:2000],
        suggested_action=r.suggested_action[:500] if r.suggested_action else None,
        device_uuid=r.device_uuid,
    )
