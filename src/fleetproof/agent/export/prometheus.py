"""Render the agent's state as Prometheus text exposition format (version 0.0.4).

Names follow Prometheus conventions: base units in the name, ``_total`` for
counters, a ``fleetproof_`` prefix; accelerator series carry the labels
``hostname``, ``vendor``, ``index``, ``uuid`` and ``model``. A metric key no
catalog entry knows (from a third-party collector) is exported as an untyped
gauge ``fleetproof_accelerator_<key>`` rather than dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from fleetproof import __version__
from fleetproof.agent.checks.base import STATE_ORDER
from fleetproof.agent.export.metric_names import (
    ACCELERATOR_METRICS,
    AGENT_METRICS,
    DERIVED_ACCELERATOR_METRICS,
    HOST_METRICS,
    MetricName,
    all_metric_names,
)
from fleetproof.agent.runner import AgentState

__all__ = ["CONTENT_TYPE", "render"]

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


def _text(value: object) -> str:
    """Lone surrogates (undecodable bytes in a device string or path) cannot be encoded as
    UTF-8 and would fail the whole scrape; they are written as visible escapes instead."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _esc(value: object) -> str:
    return _text(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _esc_help(value: str) -> str:
    return _text(value).replace("\\", "\\\\").replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, object]]) -> str:
    inner = ",".join(f'{k}="{_esc(v)}"' for k, v in pairs if v is not None)
    return "{" + inner + "}" if inner else ""


def _num(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):  # the text format spells them +Inf and -Inf
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Out:
    """Groups samples by metric so each family gets one HELP/TYPE header."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[MetricName, list[str]]] = {}

    def add(self, metric: MetricName, labels: str, value: float) -> None:
        fam = self.families.setdefault(metric.name, (metric, []))
        fam[1].append(f"{metric.name}{labels} {_num(value * metric.scale)}")

    def text(self) -> str:
        lines: list[str] = []
        for name, (metric, samples) in self.families.items():
            lines.append(f"# HELP {name} {_esc_help(metric.help)}")
            lines.append(f"# TYPE {name} {metric.type}")
            lines.extend(samples)
        return "\n".join(lines) + "\n"


def render(state: AgentState, hostname: str) -> str:
    """The whole exposition for the latest round (call with ``state.lock`` held or on a copy)."""
    out = _Out()
    out.add(AGENT_METRICS["build_info"], _labels([("version", __version__), ("hostname", hostname)]), 1)
    _accelerators(out, state, hostname)
    _host(out, state, hostname)
    _agent(out, state, hostname)
    return out.text()


def _accelerators(out: _Out, state: AgentState, hostname: str) -> None:
    derived = DERIVED_ACCELERATOR_METRICS
    for snap in state.snapshots:
        for dev in snap.devices:
            i = dev.info
            base = [
                ("hostname", hostname),
                ("vendor", i.vendor),
                ("index", i.index),
                ("uuid", i.uuid),
                ("model", i.model),
            ]
            labels = _labels(base)
            info = [
                *base,
                ("serial", i.serial),
                ("bus_id", i.bus_id),
                ("driver_version", i.driver_version),
                ("firmware_version", i.firmware_version),
            ]
            out.add(derived["info"], _labels(info), 1)
            out.add(derived["up"], labels, 0 if dev.lost else 1)
            used: set[str] = set()
            for key, value in dev.metrics.items():
                metric = ACCELERATOR_METRICS.get(key)
                if metric is None:
                    metric = MetricName("fleetproof_accelerator_" + _BAD_NAME.sub("_", key), "untyped", key)
                    if metric.name in _KNOWN_NAMES:
                        continue  # a third-party key must not shadow or duplicate a catalog series
                if metric.name in used:
                    continue  # two keys that clean up to one name: keep the first, not a duplicate series
                used.add(metric.name)
                out.add(metric, labels, value)
            if dev.persistence_mode is not None:
                out.add(derived["persistence_mode"], labels, 1 if dev.persistence_mode else 0)
            if not dev.lost and dev.info.vendor in {"nvidia", "simulated"}:
                for reason in _THROTTLE:
                    out.add(
                        derived["throttled"],
                        _labels([*base, ("reason", reason)]),
                        reason in dev.throttle_reasons,
                    )
    for (uuid, code), count in sorted(state.xid_counts.items()):
        out.add(derived["xid"], _labels([("hostname", hostname), ("uuid", uuid), ("code", code)]), count)


def _host(out: _Out, state: AgentState, hostname: str) -> None:
    for snap in state.snapshots:
        for key, value in snap.host_metrics.items():
            name, _, rest = key.partition("[")
            metric = HOST_METRICS.get(name)
            if metric is None:
                continue
            pairs: list[tuple[str, object]] = [("hostname", hostname)]
            if rest:
                pairs.append(("mountpoint", rest[:-1] if rest.endswith("]") else rest))
            out.add(metric, _labels(pairs), value)


def _agent(out: _Out, state: AgentState, hostname: str) -> None:
    h = ("hostname", hostname)
    for r in state.results:
        pairs: list[tuple[str, object]] = [h, ("component", r.component)]
        if r.device_uuid:
            pairs.append(("uuid", r.device_uuid))
        if r.subject:
            pairs.append(("subject", r.subject))
        out.add(AGENT_METRICS["health"], _labels(pairs), STATE_ORDER[r.state])
    out.add(AGENT_METRICS["rounds"], _labels([h]), state.rounds)
    if state.last_round_time is not None:
        out.add(AGENT_METRICS["last_round"], _labels([h]), state.last_round_time)
    for snap in state.snapshots:
        labels = _labels([h, ("collector", snap.collector)])
        out.add(AGENT_METRICS["collector_duration"], labels, snap.duration_s)
        out.add(AGENT_METRICS["collector_success"], labels, 0 if snap.error else 1)
    for key, value in state.outbox_stats.items():
        if key in AGENT_METRICS:
            out.add(AGENT_METRICS[key], _labels([h]), value)
