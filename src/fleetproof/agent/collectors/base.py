"""The collector interface, the readings collectors return, and the base of library collectors.

A collector reads one kind of hardware (or the host) and returns a
:class:`Snapshot`: what each device *is* (:class:`DeviceInfo`, the inventory
part) and what it *reads* now (a flat ``metrics`` dict whose keys carry their
unit, plus throttle reasons, Xid events and errors). Keeping the reading flat
and vendor-neutral is what lets one set of health checks and one exporter serve
every vendor. Collectors never change device state: they only call read APIs.

A collector declares the settings it reads as ``options`` (:class:`~fleetproof.agent.setting.Option`:
the setting and the constructor argument it feeds); the registry
(:mod:`fleetproof.agent.collectors.registry`) lists the built-ins and hands those settings to
the agent's settings table. :class:`LibraryCollector` is the start/stop life cycle shared by
the backends that read a vendor library (NVML, AMD SMI, HLML).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from fleetproof.agent.setting import Option

__all__ = [
    "Collector",
    "CollectorFactory",
    "DeviceInfo",
    "DeviceReading",
    "LibraryCollector",
    "Option",
    "Snapshot",
    "XidEvent",
    "collect_safely",
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


class LibraryCollector:
    """The life cycle of a collector that reads through a vendor library module.

    The module is imported and started (``nvmlInit``, ``amdsmi_init``, ``hlmlInit``) on first
    use, not at construction, so that building a collector on a host without the driver
    costs nothing and :meth:`available` can say False instead of raising. ``module=`` injects
    a fake for tests. Subclasses say how to import, start, stop and count; stopping is
    best-effort, since a library that failed half-way may refuse to shut down.
    """

    name = ""
    options: tuple[Option, ...] = ()
    start_call = ""  # the library's start function (``nvmlInit``)
    stop_call = ""  # and its stop function (``nvmlShutdown``)

    def __init__(self, module: Any = None, clock: Callable[[], float] = time.time) -> None:
        self._module = module
        self._clock = clock
        self._ready = False

    def _import(self) -> Any:
        raise NotImplementedError

    def _start(self, lib: Any) -> None:
        getattr(lib, self.start_call)()

    def _stop(self, lib: Any) -> None:
        getattr(lib, self.stop_call)()

    def _count(self, lib: Any) -> int:
        raise NotImplementedError

    def _started(self) -> None:
        """Called once after the library started (the NVIDIA collector registers for events)."""

    def _lib(self) -> Any:
        if self._module is None:
            self._module = self._import()
        if not self._ready:
            self._start(self._module)
            self._ready = True
            self._started()
        return self._module

    def available(self) -> bool:
        try:
            return self._count(self._lib()) > 0
        except Exception:  # no library, no driver, or a broken install
            return False

    def close(self) -> None:
        if self._ready:
            with contextlib.suppress(Exception):
                self._stop(self._module)
            self._ready = False
