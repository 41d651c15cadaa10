"""Health states and their order, shared by the agent's checks and the server's roll-up.

Both sides pick "the worst" of several states: the agent for a host's summary and its
exit status, the server for an accelerator's and a host's state on the dashboard. One
order, written once, keeps them from drifting apart (``initializing`` ranks above
``healthy``: a host still warming up is not yet known to be fine).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

__all__ = ["HEALTH_STATES", "STATE_ORDER", "HealthState", "severity", "worst"]

HealthState = Literal["healthy", "degraded", "unhealthy", "initializing"]

# Best to worst.
STATE_ORDER: dict[str, int] = {"healthy": 0, "initializing": 1, "degraded": 2, "unhealthy": 3}
HEALTH_STATES: tuple[HealthState, ...] = ("healthy", "initializing", "degraded", "unhealthy")


def severity(state: str) -> int:
    """The rank of ``state`` in :data:`STATE_ORDER`; a name this version does not know ranks as healthy."""
    return STATE_ORDER.get(state, 0)


def worst(states: Iterable[str], default: str = "healthy") -> str:
    """The worst of ``states``, ``default`` when there are none (the first of equals wins)."""
    return max(states, key=severity, default=default)
