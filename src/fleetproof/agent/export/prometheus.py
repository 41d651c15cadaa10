"""The agent's state as Prometheus metrics, rendered by ``prometheus_client``.

Names follow Prometheus conventions: base units in the name, ``_total`` for
counters, a ``fleetproof_`` prefix; accelerator series carry the labels
``hostname``, ``vendor``, ``index``, ``uuid`` and ``model``. A metric key no
catalog entry knows (from a third-party collector) is exported as an untyped
family ``fleetproof_accelerator_<key>`` rather than dropped.

Three choices make the series easy to alert on:

* counters exist from the first scrape: ``fleetproof_accelerator_xid_errors_total`` is 0 for
  every accelerator and catalog severity before any Xid, so ``increase()`` sees the first
  critical one;
* health is one 0/1 series per state (``state="healthy"``, ``initializing``, ``degraded``,
  ``unhealthy``), every series with the same labels (``uuid`` and ``subject`` empty where they
  do not apply), so a rule can say ``fleetproof_health_status{state="unhealthy"} == 1``;
* a per-code Xid counter carries the catalog's ``severity``, so "a critical Xid" is one selector.

The families are built by :class:`AgentCollector` from the latest round; the HTTP exporter
caches that text per round and adds the ``process_*`` families of the running process at
every scrape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    UnknownMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from fleetproof import __version__
from fleetproof.agent.checks.base import STATE_ORDER
from fleetproof.agent.checks.xid_catalog import describe
from fleetproof.agent.export.metric_names import (
    ACCELERATOR_METRICS,
    AGENT_METRICS,
    DERIVED_ACCELERATOR_METRICS,
    HOST_METRICS,
    THROTTLE_DURATION,
    THROTTLE_DURATION_KEYS,
    MetricName,
    all_metric_names,
)
from fleetproof.agent.runner import AgentState

__all__ = ["CONTENT_TYPE", "AgentCollector", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BAD_NAME = re.compile(r"[^a-zA-Z0-9_]")
_KNOWN_NAMES = frozenset(all_metric_names())
_THROTTLE = (
    "sw_power_cap",
    "hw_slowdown",
    "hw_thermal_slowdown",
    "sw_thermal_slowdown",
    "hw_power_brake_slowdown",
)
BASE_LABELS = ("hostname", "vendor", "index", "uuid", "model")
HEALTH_LABELS = ("hostname", "component", "uuid", "subject", "state")
STATES = tuple(STATE_ORDER)
XID_SEVERITIES = ("critical", "warning", "info")


def _text(value: object) -> str:
    """Lone surrogates (undecodable bytes in a device string or path) cannot be encoded as
    UTF-8 and would fail the whole scrape; they are written as visible escapes instead."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


class _Families:
    """One family per metric name, created on first use with that metric's label names."""

    def __init__(self) -> None:
        self._by_name: dict[str, Any] = {}  # the *MetricFamily classes share add_metric, not a type

    def add(self, metric: MetricName, labels: Mapping[str, object], value: float) -> None:
        fam = self._by_name.get(metric.name)
        if fam is None:
            kind = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily}.get(
                metric.type, UnknownMetricFamily
            )
            fam = kind(metric.name, _text(metric.help), labels=list(labels))
            self._by_name[metric.name] = fam
        fam.add_metric([_text("" if v is None else v) for v in labels.values()], value * metric.scale)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._by_name.values())


class AgentCollector:
    """A ``prometheus_client`` collector over an :class:`AgentState` (read with its lock held)."""

    def __init__(self, state: AgentState, hostname: str) -> None:
        self.state = state
        self.hostname = hostname

    def collect(self) -> Iterator[Metric]:
        out = _Families()
        out.add(AGENT_METRICS["build_info"], {"version": __version__, "hostname": self.hostname}, 1)
        _accelerators(out, self.state, self.hostname)
        _host(out, self.state, self.hostname)
        _agent(out, self.state, self.hostname)
        yield from out


def render(state: AgentState, hostname: str) -> str:
    """The exposition of the latest round (call with ``state.lock`` held or on a copy)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(state, hostname))
    return generate_latest(registry).decode("utf-8")


def _accelerators(out: _Families, state: AgentState, hostname: str) -> None:
    derived = DERIVED_ACCELERATOR_METRICS
    known: dict[str, dict[str, object]] = {}
    for snap in state.snapshots:
        for dev in snap.devices:
            i = dev.info
            base: dict[str, object] = {
                "hostname": hostname,
                "vendor": i.vendor,
                "index": i.index,
                "uuid": i.uuid,
                "model": i.model,
            }
            known[i.uuid] = base
            info = {
                **base,
                "serial": i.serial,
                "bus_id": i.bus_id,
                "driver_version": i.driver_version,
                "firmware_version": i.firmware_version,
            }
            out.add(derived["info"], info, 1)
            out.add(derived["up"], base, 0 if dev.lost else 1)
            for severity in XID_SEVERITIES:
                count = state.xid_severity_counts.get((i.uuid, severity), 0)
                out.add(derived["xid_errors"], {**base, "severity": severity}, count)
            out.add(derived["xid_last"], base, state.xid_last.get(i.uuid, 0))
            _device_metrics(out, base, dev.metrics)
            if dev.persistence_mode is not None:
                out.add(derived["persistence_mode"], base, 1 if dev.persistence_mode else 0)
            if not dev.lost and dev.info.vendor in {"nvidia", "simulated"}:
                for reason in _THROTTLE:
                    out.add(derived["throttled"], {**base, "reason": reason}, reason in dev.throttle_reasons)
    for (uuid, code), count in sorted(state.xid_counts.items()):
        base = known.get(uuid) or {
            "hostname": hostname,
            "vendor": "",
            "index": "",
            "uuid": uuid,
            "model": "",
        }
        labels = {**base, "code": code, "severity": describe(code).severity}
        out.add(derived["xid"], labels, count)


def _device_metrics(out: _Families, base: dict[str, object], metrics: dict[str, float]) -> None:
    used: set[str] = set()
    for key, value in metrics.items():
        policy = THROTTLE_DURATION_KEYS.get(key)
        if policy is not None:
            out.add(THROTTLE_DURATION, {**base, "policy": policy}, value)
            continue
        metric = ACCELERATOR_METRICS.get(key)
        if metric is None:
            metric = MetricName("fleetproof_accelerator_" + _BAD_NAME.sub("_", key), "untyped", key)
            if metric.name in _KNOWN_NAMES or metric.name.endswith(("_total", "_created", "_info")):
                continue  # a third-party key must not shadow a catalog series or pose as a counter
        if metric.name in used:
            continue  # two keys that clean up to one name: keep the first, not a duplicate series
        used.add(metric.name)
        out.add(metric, base, value)


def _host(out: _Families, state: AgentState, hostname: str) -> None:
    for snap in state.snapshots:
        for key, value in snap.host_metrics.items():
            name, _, rest = key.partition("[")
            metric = HOST_METRICS.get(name)
            if metric is None:
                continue
            labels: dict[str, object] = {"hostname": hostname}
            if name.startswith("disk_"):
                labels["mountpoint"] = (rest[:-1] if rest.endswith("]") else rest) or "/"
            out.add(metric, labels, value)


def _health(out: _Families, hostname: str, rows: list[tuple[str, Any, Any, str]]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for component, uuid, subject, current in rows:
        key = (component, uuid or "", subject or "")
        if key in seen:
            continue  # one result per component and subject; a repeat would be a duplicate series
        seen.add(key)
        for state in STATES:
            labels = {"hostname": hostname, "component": component, "uuid": uuid, "subject": subject}
            out.add(AGENT_METRICS["health"], {**labels, "state": state}, 1 if state == current else 0)


def _agent(out: _Families, state: AgentState, hostname: str) -> None:
    h = {"hostname": hostname}
    if state.rounds == 0:
        _health(out, hostname, [(c, None, None, "initializing") for c in state.components])
    else:
        _health(out, hostname, [(r.component, r.device_uuid, r.subject, r.state) for r in state.results])
    out.add(AGENT_METRICS["rounds"], h, state.rounds)
    if state.last_round_time is not None:
        out.add(AGENT_METRICS["last_round"], h, state.last_round_time)
    for snap in state.snapshots:
        labels = {**h, "collector": snap.collector}
        out.add(AGENT_METRICS["collector_duration"], labels, snap.duration_s)
        out.add(AGENT_METRICS["collector_success"], labels, 0 if snap.error else 1)
    for key, value in state.outbox_stats.items():
        if key in AGENT_METRICS:
            out.add(AGENT_METRICS[key], h, value)
