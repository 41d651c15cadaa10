"""Persistence mode: off means a slow, racy driver start-up for every job."""

from __future__ import annotations

from fleetproof.agent.checks.base import CheckContext, HealthResult, ok, result

__all__ = ["PersistenceMode"]


class PersistenceMode:
    """Persistence mode off means slow, racy driver start-up for every job (NVIDIA, Gaudi)."""

    name = "persistence_mode"

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        act = "Enable persistence mode (nvidia-persistenced or nvidia-smi -pm 1); the agent never changes it."
        results = [
            result(self.name, "degraded", "persistence mode is disabled", act, dev)
            for dev in ctx.devices
            if dev.persistence_mode is False
        ]
        return results or ok(self.name, "persistence mode enabled where supported")
