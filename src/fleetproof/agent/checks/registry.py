"""The health components the agent runs: the built-ins, listed once here, and any registered later.

A new check is one new module in this package (a class with ``name``, ``check`` and, when it
reads thresholds, ``settings``) plus one line in :data:`BUILTIN`. A check kept outside the
package is added with :func:`register`, before the agent's settings are loaded, so that its
thresholds are settings like any other. Each name is registered once: a plugin cannot
silently replace a built-in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fleetproof.agent.checks.base import Component
from fleetproof.agent.checks.collection import CollectionErrors
from fleetproof.agent.checks.ecc import EccHealth
from fleetproof.agent.checks.host_pressure import HostPressure
from fleetproof.agent.checks.missing_devices import MissingDevices
from fleetproof.agent.checks.persistence import PersistenceMode
from fleetproof.agent.checks.throttling import Throttling
from fleetproof.agent.checks.vendor_health import VendorHealth
from fleetproof.agent.checks.xid import XidErrors
from fleetproof.agent.plugins import Registry
from fleetproof.agent.setting import Setting

__all__ = ["BUILTIN", "check_settings", "create_all", "register", "registered"]

ComponentFactory = Callable[[], Component]

# One line per built-in health component.
BUILTIN: tuple[type[Component], ...] = (
    XidErrors,
    EccHealth,
    Throttling,
    MissingDevices,
    PersistenceMode,
    CollectionErrors,
    VendorHealth,
    HostPressure,
)

_REGISTRY: Registry[ComponentFactory] = Registry("health component")


def register(name: str, factory: ComponentFactory, settings: Sequence[Setting] | None = None) -> None:
    """Add a component factory and the thresholds it reads (default: the factory's ``settings``).

    A duplicate component name, or a threshold declared otherwise by another check, raises
    ``ValueError``.
    """
    _REGISTRY.add(name, factory, getattr(factory, "settings", ()) if settings is None else settings)


def registered() -> dict[str, ComponentFactory]:
    """The registered factories by name (a copy)."""
    return _REGISTRY.factories()


def check_settings() -> tuple[Setting, ...]:
    """The thresholds every registered component declares, in registration order."""
    return _REGISTRY.settings()


def create_all(disabled: Sequence[str] = ()) -> list[Component]:
    """One instance of every registered component, except the disabled ones."""
    return [factory() for name, factory in sorted(_REGISTRY.factories().items()) if name not in disabled]


for _component in BUILTIN:
    register(_component.name, _component)
