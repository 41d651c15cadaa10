"""The backends the agent can read: the built-ins, listed once here, and any registered later.

A new backend is one new module in this package (a collector class with ``name``,
``available``, ``collect``, ``close`` and, when it reads settings, ``options``) plus one line in
:data:`BUILTIN`. A backend kept outside the package is added with :func:`register` before
the agent's settings are loaded, so that its options are settings like any other.
Registering a name twice is an error, so a plugin cannot silently shadow a built-in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleetproof.agent.collectors.amd import AmdCollector
from fleetproof.agent.collectors.ascend import AscendCollector
from fleetproof.agent.collectors.base import Collector, CollectorFactory, Option
from fleetproof.agent.collectors.cambricon import CambriconCollector
from fleetproof.agent.collectors.enflame import EnflameCollector
from fleetproof.agent.collectors.gaudi import GaudiCollector
from fleetproof.agent.collectors.hygon import HygonCollector
from fleetproof.agent.collectors.iluvatar import IluvatarCollector
from fleetproof.agent.collectors.intel import IntelCollector
from fleetproof.agent.collectors.kunlunxin import KunlunxinCollector
from fleetproof.agent.collectors.metax import MetaxCollector
from fleetproof.agent.collectors.moorethreads import MooreThreadsCollector
from fleetproof.agent.collectors.nvidia import NvidiaCollector
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.collectors.system import SystemCollector
from fleetproof.agent.plugins import Registry
from fleetproof.agent.setting import Setting
from fleetproof.errors import ConfigError

__all__ = [
    "BUILTIN",
    "available_backends",
    "collector_settings",
    "create",
    "option_arguments",
    "register",
    "registered",
]

# One line per built-in backend.
BUILTIN: tuple[Any, ...] = (
    SimulatedCollector,
    SystemCollector,
    NvidiaCollector,
    AmdCollector,
    GaudiCollector,
    AscendCollector,
    CambriconCollector,
    HygonCollector,
    MooreThreadsCollector,
    KunlunxinCollector,
    IluvatarCollector,
    MetaxCollector,
    EnflameCollector,
    IntelCollector,
)

_REGISTRY: Registry[CollectorFactory] = Registry("collector")
_OPTIONS: dict[str, tuple[Option, ...]] = {}


def register(name: str, factory: CollectorFactory, options: Sequence[Option] | None = None) -> None:
    """Add a collector factory and the options it reads (default: the factory's ``options``).

    A duplicate name raises ``ValueError``; so does a setting that another backend declares
    otherwise (two backends may share one setting, declared alike).
    """
    declared = tuple(getattr(factory, "options", ()) if options is None else options)
    _REGISTRY.add(name, factory, (o.setting for o in declared))
    _OPTIONS[name] = declared


def registered() -> dict[str, CollectorFactory]:
    """The registered factories by name (a copy)."""
    return _REGISTRY.factories()


def collector_settings() -> tuple[Setting, ...]:
    """The settings every registered backend declares (each once), in registration order."""
    return _REGISTRY.settings()


def option_arguments(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of backend ``name`` for the options it declares, from setting values."""
    return {o.arg: o.value(values) for o in _OPTIONS.get(name, ())}


def create(name: str, **options: object) -> Collector:
    """Build the collector registered as ``name``; options it does not take are ignored."""
    factories = _REGISTRY.factories()
    if name not in factories:
        known = ", ".join(sorted(factories))
        raise ConfigError(f"unknown backend {name!r}; known backends: {known}")
    return factories[name](**options)


def available_backends(exclude: tuple[str, ...] = ("simulated", "system")) -> list[str]:
    """Names of hardware backends whose library and devices are present on this host."""
    names = []
    for name, factory in sorted(_REGISTRY.factories().items()):
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


for _backend in BUILTIN:
    register(_backend.name, _backend)
