"""Health components: the interface, the result they return and the context they read.

A component looks at one aspect (Xid events, ECC, throttling, ...) of the latest
round of readings and says, per device or for the host, whether things are
``healthy``, ``degraded``, ``unhealthy`` or still ``initializing`` — always with
a reason a person can read and, when something is wrong, what to do about it.
Components may keep state between rounds (the Xid component remembers recent
events); they get the time from the context, never from the wall clock, so tests
drive them with a fake clock.

A component that reads a threshold declares it as a :class:`~fleetproof.agent.setting.Setting`
in its ``settings`` attribute (the one place its name, default and help text are written);
the agent's settings table picks it up from the registry (:mod:`fleetproof.agent.checks.registry`),
which lists the built-ins.

The agent only *suggests* actions. It never performs them: see ``docs/agent.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, Snapshot
from fleetproof.agent.setting import Setting

__all__ = [
    "STATE_ORDER",
    "CheckContext",
    "Component",
    "HealthResult",
    "ok",
    "result",
    "worst",
]

from fleetproof.protocol.health import STATE_ORDER
from fleetproof.protocol.health import worst as _worst


@dataclass(frozen=True)
class HealthResult:
    component: str
    state: str
    reason: str
    suggested_action: str | None = None
    device_uuid: str | None = None
    device_index: int | None = None
    subject: str | None = None  # tells apart several host-level results of one component ("disk /")

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "state": self.state,
            "reason": self.reason,
            "suggested_action": self.suggested_action,
            "device_uuid": self.device_uuid,
            "device_index": self.device_index,
            "subject": self.subject,
        }


@dataclass
class CheckContext:
    """What components read: the round's snapshots, the known inventory and thresholds."""

    time: float
    snapshots: list[Snapshot]
    baseline: list[DeviceInfo] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def devices(self) -> list[DeviceReading]:
        return [d for s in self.snapshots for d in s.devices]

    @property
    def host_metrics(self) -> dict[str, float]:
        merged: dict[str, float] = {}
        for snap in self.snapshots:
            merged.update(snap.host_metrics)
        return merged

    def threshold(self, setting: Setting) -> float:
        """The threshold's configured value, else the default its check declares."""
        return float(self.thresholds.get(setting.name, setting.default))


@runtime_checkable
class Component(Protocol):
    name: str

    def check(self, ctx: CheckContext) -> list[HealthResult]: ...


def worst(states: list[str]) -> str:
    """The worst of some states (``healthy`` for none)."""
    return _worst(states)


def ok(component: str, reason: str) -> list[HealthResult]:
    """The one ``healthy`` result of a component with nothing to report (so it shows in /v1/health)."""
    return [HealthResult(component, "healthy", reason)]


def result(
    component: str, state: str, reason: str, action: str | None, dev: DeviceReading | None = None
) -> HealthResult:
    """A result about one device (or the host, without ``dev``)."""
    return HealthResult(
        component,
        state,
        reason,
        action,
        device_uuid=dev.info.uuid if dev else None,
        device_index=dev.info.index if dev else None,
    )
