"""The vendor tool's own health verdict."""

from __future__ import annotations

from fleetproof.agent.checks.base import CheckContext, HealthResult, ok, result

__all__ = ["VendorHealth"]


class VendorHealth:
    """The vendor tool's own health verdict (Ascend ``npu-smi``: OK / Warning / Alarm / Critical)."""

    name = "vendor_health"

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        results = []
        for dev in ctx.devices:
            verdict = (dev.vendor_health or "").strip()
            if not verdict or verdict.upper() == "OK":
                continue
            state = "degraded" if verdict.lower() in {"warning", "general warning"} else "unhealthy"
            act = "Read the vendor tool's alarm details and follow its guidance."
            results.append(result(self.name, state, f"vendor reports health {verdict!r}", act, dev))
        return results or ok(self.name, "no vendor-reported problems")
