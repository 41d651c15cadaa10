"""Health components: the interface, the result they return, the context they read, and the registry.

A component looks at one aspect (Xid events, ECC, throttling, ...) of the latest
round of readings and says, per device or for the host, whether things are
``healthy``, ``degraded``, ``unhealthy`` or still ``initializing`` — always with
a reason a person can read and, when something is wrong, what to do about it.
Components may keep state between rounds (the Xid component remembers recent
events); they get the time from the context, never from the wall clock, so tests
drive them with a fake clock.

The agent only *suggests* actions. It never performs them: see ``docs/agent.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, Snapshot

__all__ = [
    "STATE_ORDER",
    "CheckContext",
    "Component",
    "HealthResult",
    "create_all",
    "register",
    "registered",
    "worst",
]

STATE_ORDER = {"healthy": 0, "initializing": 1, "degraded": 2, "unhealthy": 3}


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

    def threshold(self, name: str, default: float) -> float:
        return float(self.thresholds.get(name, default))


@runtime_checkable
class Component(Protocol):
    name: str

    def check(self, ctx: CheckContext) -> list[HealthResult]: ...


def worst(states: list[str]) -> str:
    """The worst of some states (``healthy`` for none)."""
    return max(states, key=lambda s: STATE_ORDER[s], default="healthy")


_REGISTRY: dict[str, Callable[[], Component]] = {}


def register(name: str, factory: Callable[[], Component]) -> None:
    """Add a component factory; a duplicate name raises ``ValueError``."""
    if name in _REGISTRY:
        raise ValueError(f"health component {name!r} is already registered")
    _REGISTRY[name] = factory


def registered() -> dict[str, Callable[[], Component]]:
    import fleetproof.agent.checks.builtin  # noqa: F401  (registers the built-ins)

    return dict(_REGISTRY)


def create_all(disabled: tuple[str, ...] | list[str] = ()) -> list[Component]:
    """One instance of every registered component, except the disabled ones."""
    return [factory() for name, factory in sorted(registered().items()) if name not in disabled]
