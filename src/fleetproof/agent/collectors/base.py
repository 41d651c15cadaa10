"""The collector interface, the readings collectors return, and the registry.

A collector reads one kind of hardware (or the host) and returns a
:class:`Snapshot`: what each device *is* (:class:`DeviceInfo`, the inventory
part) and what it *reads* now (a flat ``metrics`` dict whose keys carry their
unit, plus throttle reasons, Xid events and errors). Keeping the reading flat
and vendor-neutral is what lets one set of health checks and one exporter serve
every vendor. Collectors never change device state: they only call read APIs.

Built-in collectors register here exactly as a third-party one would, through
:func:`register`; registering a name twice is an error, so a plugin cannot
silently shadow a built-in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "Collector",
    "CollectorFactory",
    "DeviceInfo",
    "DeviceReading",
    "Snapshot",
    "XidEvent",
    "available_backends",
    "collect_safely",
    "create",
    "register",
    "registered",
]

# Throttle (NVML: "clocks event") reasons, vendor-neutral names.
THROTTLE_REASONS = (
    "sw_power_cap",
    "hw_slowdown",
    "hw_thermal_slowdown",
    "sw_thermal_slowdown",
    "hw_power_brake_slowdown",
)


@dataclass(frozen=True)
class DeviceInfo:
    """What an accelerator is; any change of these fields is an inventory event."""

    index: int
    vendor: str
    model: str
    uuid: str
    serial: str | None = None
    bus_id: str | None = None
    driver_version: str | None = None
    firmware_version: str | None = None
    memory_total_bytes: int | None = None


@dataclass(frozen=True)
class XidEvent:
    """An NVIDIA Xid (or another vendor's equivalent error code) seen on a device."""

    code: int
    time: float
    message: str = ""


@dataclass
class DeviceReading:
    """One device at one instant.

    ``metrics`` keys carry their unit (``temperature_c``, ``power_w``); counters
    end in ``_total``. A metric a device does not support is simply absent: "no
    data" is not a failure. ``errors`` holds reads that failed for another reason.
    """

    info: DeviceInfo
    metrics: dict[str, float] = field(default_factory=dict)
    throttle_reasons: frozenset[str] = frozenset()
    xid_events: list[XidEvent] = field(default_factory=list)
    persistence_mode: bool | None = None
    vendor_health: str | None = None  # the vendor tool's own verdict ("OK", "Warning", "Alarm", ...)
    lost: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class Snapshot:
    """One collector's result for one round."""

    collector: str
    time: float
    devices: list[DeviceReading] = field(default_factory=list)
    host_metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0


@runtime_checkable
class Collector(Protocol):
    """Reads one backend. ``available`` is cheap and never raises; ``collect`` may raise."""

    name: str

    def available(self) -> bool: ...

    def collect(self) -> Snapshot: ...

    def close(self) -> None: ...


CollectorFactory = Callable[..., Collector]

_REGISTRY: dict[str, CollectorFactory] = {}


def register(name: str, factory: CollectorFactory) -> None:
    """Add a collector factory under ``name``; a duplicate name raises ``ValueError``."""
    if name in _REGISTRY:
        raise ValueError(f"collector {name!r} is already registered")
    _REGISTRY[name] = factory


def registered() -> dict[str, CollectorFactory]:
    """The registered factories by name (a copy)."""
    _load_builtins()
    return dict(_REGISTRY)


def create(name: str, **options: object) -> Collector:
    """Build the collector registered as ``name``; options it does not take are ignored."""
    from fleetproof.errors import ConfigError

    factories = registered()
    if name not in factories:
        known = ", ".join(sorted(factories))
        raise ConfigError(f"unknown backend {name!r}; known backends: {known}")
    return factories[name](**options)


def available_backends(exclude: tuple[str, ...] = ("simulated", "system")) -> list[str]:
    """Names of hardware backends whose library and devices are present on this host."""
    names = []
    for name, factory in sorted(registered().items()):
        if name in exclude:
            continue
        try:
            collector = factory()
            ok = collector.available()
            collector.close()
        except Exception:  # a broken vendor stack must not break the agent
            ok = False
        if ok:
            names.append(name)
    return names


def collect_safely(collector: Collector, clock: Callable[[], float] = time.time) -> Snapshot:
    """Run ``collector.collect`` and turn any exception into a snapshot with ``error`` set.

    The agent keeps running when one vendor stack misbehaves; the collection-error
    health check reports it instead.
    """
    start = time.perf_counter()
    try:
        snap = collector.collect()
    except Exception as exc:
        snap = Snapshot(collector=collector.name, time=clock(), error=f"{type(exc).__name__}: {exc}")
    snap.duration_s = time.perf_counter() - start
    return snap


_BUILTINS_LOADED = False


def _load_builtins() -> None:
    """Import the built-in collector modules, which register themselves like plugins do."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    import importlib

    for mod in BUILTIN_MODULES:
        importlib.import_module(f"fleetproof.agent.collectors.{mod}")


# One line per built-in backend; each module registers itself as a plugin would.
BUILTIN_MODULES = (
    "simulated",
    "system",
    "nvidia",
    "amd",
    "gaudi",
    "ascend",
    "cambricon",
    "hygon",
    "moorethreads",
    "kunlunxin",
    "iluvatar",
    "metax",
    "enflame",
    "intel",
)
