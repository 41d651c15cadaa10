"""Memory health: uncorrectable ECC errors, row remapping, retired pages and ECC storms."""

from __future__ import annotations

from fleetproof.agent.checks.base import CheckContext, HealthResult, ok, result
from fleetproof.agent.collectors.base import DeviceReading
from fleetproof.agent.setting import Setting

__all__ = ["EccHealth"]

ECC_STORM = Setting("ecc_storm_per_minute", 1000.0, "Corrected ECC errors per minute that count as a storm.")
RETIRED_PAGES = Setting("retired_pages_limit", 60.0, "Retired memory pages at which a device is unhealthy.")

_RESET = "Drain the node's jobs and reset the GPU (or reboot the host)."
_INSPECT = "Drain the node and send the board for hardware inspection (RMA)."


class EccHealth:
    """Uncorrectable ECC errors, row-remap failures and pending remaps, retired pages, ECC storms."""

    name = "ecc"
    settings = (ECC_STORM, RETIRED_PAGES)

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        results = []
        for dev in ctx.devices:
            found = self._device(ctx, dev)
            if found:
                results.append(found)
        return results or ok(self.name, "no uncorrectable ECC errors or remapping problems")

    def _device(self, ctx: CheckContext, dev: DeviceReading) -> HealthResult | None:
        m = dev.metrics
        storm = self._storm(ctx, dev)
        if m.get("remapped_rows_failure", 0) > 0:
            return result(self.name, "unhealthy", "row remapping failed: no spare rows left", _INSPECT, dev)
        retired = m.get("retired_pages_sbe", 0) + m.get("retired_pages_dbe", 0)
        if retired >= ctx.threshold(RETIRED_PAGES):
            return result(self.name, "unhealthy", f"{retired:.0f} retired memory pages", _INSPECT, dev)
        dbe = m.get("ecc_volatile_uncorrected_total", 0)
        if dbe > 0:
            reason = f"{dbe:.0f} uncorrectable (double-bit) ECC errors since the last reset"
            return result(self.name, "unhealthy", reason, _RESET, dev)
        if m.get("remapped_rows_pending", 0) > 0:
            reason = "a memory row remap is pending; it takes effect at the next GPU reset"
            return result(self.name, "degraded", reason, _RESET, dev)
        return storm

    def _storm(self, ctx: CheckContext, dev: DeviceReading) -> HealthResult | None:
        corrected = dev.metrics.get("ecc_volatile_corrected_total")
        if corrected is None:
            return None
        prev = self._last.get(dev.info.uuid)
        self._last[dev.info.uuid] = (ctx.time, corrected)
        if prev is None or ctx.time <= prev[0] or corrected < prev[1]:
            return None
        per_minute = (corrected - prev[1]) / (ctx.time - prev[0]) * 60.0
        limit = ctx.threshold(ECC_STORM)
        if per_minute < limit:
            return None
        reason = f"ECC storm: {per_minute:.0f} corrected errors per minute (limit {limit:.0f})"
        return result(
            self.name, "degraded", reason, "Schedule GPU diagnostics; a storm often precedes a failure.", dev
        )
