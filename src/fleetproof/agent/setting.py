"""One agent setting's declaration: its name, its default (whose type is the setting's type) and help.

Kept apart from :mod:`fleetproof.agent.config` so that health checks and collectors can
declare the settings they read (their thresholds and options) without importing the loader,
which in turn collects those declarations: the declarations flow one way, and no module
imports its own importer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ENV_PREFIX", "Option", "Setting", "comma_list"]

ENV_PREFIX = "FLEETPROOF_AGENT_"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Option:
    """A collector's setting, and the constructor argument its value is passed as.

    ``convert`` turns the setting's value into what the constructor takes (for example a
    comma-separated string into a list); by default the value is passed as it is.
    """

    setting: Setting
    arg: str
    convert: Callable[[Any], Any] = _same

    def value(self, options: dict[str, Any]) -> Any:
        return self.convert(options.get(self.setting.name, self.setting.default))


def comma_list(value: Any) -> list[str]:
    """A comma-separated setting as its non-empty, stripped items."""
    return [p.strip() for p in str(value).split(",") if p.strip()]
