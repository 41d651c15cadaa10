"""Collection errors: backends that cannot be read, and single reads that failed."""

from __future__ import annotations

from fleetproof.agent.checks.base import CheckContext, HealthResult, ok, result

__all__ = ["CollectionErrors"]


class CollectionErrors:
    """A backend that cannot be read at all is unhealthy; failed single reads are degraded."""

    name = "collection"

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        results = []
        for snap in ctx.snapshots:
            if snap.error:
                act = "Check the vendor driver and library (the agent's log has the details)."
                why = f"backend {snap.collector}: {snap.error}"
                results.append(
                    HealthResult(self.name, "unhealthy", why, act, subject=f"backend {snap.collector}")
                )
        for dev in ctx.devices:
            if dev.errors and not dev.lost:
                why = "; ".join(dev.errors[:3]) + (
                    f" (+{len(dev.errors) - 3} more)" if len(dev.errors) > 3 else ""
                )
                act = "Check the driver version and the device; restart the agent if it persists."
                results.append(result(self.name, "degraded", f"reads failed: {why}", act, dev))
        return results or ok(self.name, "every backend read cleanly")
