"""Devices that were in the known inventory and are gone, or that the driver reports lost."""

from __future__ import annotations

from fleetproof.agent.checks.base import CheckContext, HealthResult, ok, result

__all__ = ["MissingDevices"]


class MissingDevices:
    """Devices in the known inventory that are gone now, or that the driver reports as lost."""

    name = "missing_devices"

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        results = []
        present = {d.info.uuid for d in ctx.devices if not d.lost}
        act = "Drain the node and reboot; if the device stays missing, reseat it or send it for inspection."
        for dev in ctx.devices:
            if dev.lost:
                results.append(result(self.name, "unhealthy", "device is lost (fell off the bus)", act, dev))
        lost = {d.info.uuid for d in ctx.devices if d.lost}
        for info in ctx.baseline:
            if info.uuid not in present and info.uuid not in lost:
                why = f"{info.vendor} device {info.index} ({info.model}, {info.uuid}) is missing"
                results.append(HealthResult(self.name, "unhealthy", why, act, info.uuid, info.index))
        return results or ok(self.name, f"all {len(present)} known devices present")
