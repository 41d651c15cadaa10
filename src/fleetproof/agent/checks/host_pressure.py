"""Disk and memory pressure on the host."""

from __future__ import annotations

from fleetproof.agent.checks.base import CheckContext, HealthResult, ok
from fleetproof.agent.setting import Setting

__all__ = ["HostPressure"]

DISK_DEGRADED = Setting("disk_degraded_percent", 90.0, "Disk use at which the host is degraded, percent.")
DISK_UNHEALTHY = Setting("disk_unhealthy_percent", 97.0, "Disk use at which the host is unhealthy, percent.")
MEMORY_DEGRADED = Setting(
    "memory_degraded_percent", 90.0, "Memory use at which the host is degraded, percent."
)
MEMORY_UNHEALTHY = Setting(
    "memory_unhealthy_percent", 97.0, "Memory use at which the host is unhealthy, percent."
)


class HostPressure:
    """Disk and memory pressure on the host."""

    name = "host_pressure"
    settings = (DISK_DEGRADED, DISK_UNHEALTHY, MEMORY_DEGRADED, MEMORY_UNHEALTHY)

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        host = ctx.host_metrics
        results = []
        memory = (ctx.threshold(MEMORY_DEGRADED), ctx.threshold(MEMORY_UNHEALTHY))
        disk = (ctx.threshold(DISK_DEGRADED), ctx.threshold(DISK_UNHEALTHY))
        checks = [("memory", host.get("memory_used_percent"), memory)]
        checks += [
            (f"disk {key[len('disk_used_percent[') : -1]}", value, disk)
            for key, value in sorted(host.items())
            if key.startswith("disk_used_percent[")
        ]
        for what, value, (warn, bad) in checks:
            if value is None:
                continue
            if value >= warn:
                state = "unhealthy" if value >= bad else "degraded"
                act = (
                    "Free disk space."
                    if what.startswith("disk")
                    else "Find and stop the process using memory."
                )
                why = f"{what} is {value:.1f} % used"
                results.append(HealthResult(self.name, state, why, act, subject=what))
        return results or ok(self.name, "disk and memory use below limits")
