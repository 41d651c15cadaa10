"""A named set of factories, each with the settings it declares: what the check and backend registries share.

Each name is registered once, so that a plugin cannot silently replace a built-in. A setting
may be declared by several entries only as the very same declaration (two backends reading one
option); declared twice with another default or help, it is refused, since the settings table
could not say which one holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from fleetproof.agent.setting import Setting

__all__ = ["Registry"]

F = TypeVar("F")


class Registry(Generic[F]):
    def __init__(self, kind: str) -> None:
        self.kind = kind  # "health component", "collector": how errors name an entry
        self._factories: dict[str, F] = {}
        self._settings: dict[str, Setting] = {}

    def add(self, name: str, factory: F, settings: Iterable[Setting]) -> None:
        """Register ``factory`` as ``name``; ``ValueError`` on a duplicate name or a clashing setting."""
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        declared = list(settings)
        clash = sorted(s.name for s in declared if self._settings.get(s.name, s) != s)
        if clash:
            raise ValueError(f"{self.kind} {name!r} declares settings declared otherwise elsewhere: {clash}")
        self._factories[name] = factory
        for setting in declared:
            self._settings.setdefault(setting.name, setting)

    def factories(self) -> dict[str, F]:
        """The registered factories by name (a copy)."""
        return dict(self._factories)

    def settings(self) -> tuple[Setting, ...]:
        """Every declared setting, once, in registration order."""
        return tuple(self._settings.values())
