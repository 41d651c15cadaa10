"""The built-in health components; each registers itself the way a plugin would.

Thresholds come from settings (``CheckContext.thresholds``); defaults are given
in each component. A component with nothing to report returns one ``healthy``
result, so that every component shows up in ``/v1/health``.
"""

from __future__ import annotations

from fleetproof.agent.checks.base import CheckContext, HealthResult, register
from fleetproof.agent.checks.xid_catalog import describe
from fleetproof.agent.collectors.base import DeviceReading, XidEvent

__all__ = [
    "CollectionErrors",
    "EccHealth",
    "HostPressure",
    "MissingDevices",
    "PersistenceMode",
    "Throttling",
    "VendorHealth",
    "XidErrors",
]


def _ok(component: str, reason: str) -> list[HealthResult]:
    return [HealthResult(component, "healthy", reason)]


def _result(
    component: str, state: str, reason: str, action: str | None, dev: DeviceReading | None = None
) -> HealthResult:
    return HealthResult(
        component,
        state,
        reason,
        action,
        device_uuid=dev.info.uuid if dev else None,
        device_index=dev.info.index if dev else None,
    )


class XidErrors:
    """Xid events, judged by the catalog; an event keeps affecting health for ``xid_window_s``."""

    name = "xid"

    def __init__(self) -> None:
        self._recent: dict[str, list[tuple[XidEvent, DeviceReading]]] = {}

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        window = ctx.threshold("xid_window_s", 3600.0)
        for dev in ctx.devices:
            for event in dev.xid_events:
                self._recent.setdefault(dev.info.uuid, []).append((event, dev))
        results = []
        for uuid in list(self._recent):
            kept = [(e, d) for e, d in self._recent[uuid] if ctx.time - e.time < window]
            self._recent[uuid] = kept
            if not kept:
                del self._recent[uuid]
                continue
            infos = [describe(e.code, e.message) for e, _ in kept]
            worst_info = max(infos, key=lambda i: {"info": 0, "warning": 1, "critical": 2}[i.severity])
            if worst_info.severity == "info":
                continue
            codes = ", ".join(sorted({str(i.code) for i in infos}, key=int))
            state = "unhealthy" if worst_info.severity == "critical" else "degraded"
            reason = f"Xid {worst_info.code} ({worst_info.name}); Xids in the last {window:.0f} s: {codes}"
            results.append(_result(self.name, state, reason, worst_info.action, kept[-1][1]))
        return results or _ok(self.name, "no Xid events that affect health")


class EccHealth:
    """Uncorrectable ECC errors, row-remap failures and pending remaps, retired pages, ECC storms."""

    name = "ecc"

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        results = []
        for dev in ctx.devices:
            found = self._device(ctx, dev)
            if found:
                results.append(found)
        return results or _ok(self.name, "no uncorrectable ECC errors or remapping problems")

    def _device(self, ctx: CheckContext, dev: DeviceReading) -> HealthResult | None:
        m = dev.metrics
        storm = self._storm(ctx, dev)
        if m.get("remapped_rows_failure", 0) > 0:
            return _result(self.name, "unhealthy", "row remapping failed: no spare rows left", _INSPECT, dev)
        retired = m.get("retired_pages_sbe", 0) + m.get("retired_pages_dbe", 0)
        if retired >= ctx.threshold("retired_pages_limit", 60):
            return _result(self.name, "unhealthy", f"{retired:.0f} retired memory pages", _INSPECT, dev)
        dbe = m.get("ecc_volatile_uncorrected_total", 0)
        if dbe > 0:
            reason = f"{dbe:.0f} uncorrectable (double-bit) ECC errors since the last reset"
            return _result(self.name, "unhealthy", reason, _RESET, dev)
        if m.get("remapped_rows_pending", 0) > 0:
            reason = "a memory row remap is pending; it takes effect at the next GPU reset"
            return _result(self.name, "degraded", reason, _RESET, dev)
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
        limit = ctx.threshold("ecc_storm_per_minute", 1000.0)
        if per_minute < limit:
            return None
        reason = f"ECC storm: {per_minute:.0f} corrected errors per minute (limit {limit:.0f})"
        return _result(
            self.name, "degraded", reason, "Schedule GPU diagnostics; a storm often precedes a failure.", dev
        )


_RESET = "Drain the node's jobs and reset the GPU (or reboot the host)."
_INSPECT = "Drain the node and send the board for hardware inspection (RMA)."


class Throttling:
    """Thermal throttling, temperatures above the limit, and power slowdowns that are not just the cap.

    Software power capping (``sw_power_cap``) alone is not a problem: a GPU under a dense
    load runs at its power limit by design (an H200 multiplying bf16 matrices sat at 689 W of
    700 W with ``sw_power_cap`` set, docs/hardware-runs.md), so flagging it would mark every
    busy board degraded. A hardware power brake (``hw_power_brake_slowdown``, asserted from
    outside the board, e.g. by the power supply) still is.
    """

    name = "throttling"

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        hot = ctx.threshold("temperature_degraded_c", 87.0)
        results = []
        for dev in ctx.devices:
            reasons = dev.throttle_reasons
            thermal = sorted(r for r in reasons if "thermal" in r or r == "hw_slowdown")
            power = sorted(r for r in reasons if "power" in r and r != "sw_power_cap")
            temp = dev.metrics.get("temperature_c")
            if thermal or (temp is not None and temp >= hot):
                why = f"thermal throttling ({', '.join(thermal) or 'none reported'}), temperature {temp} °C"
                act = "Check cooling: fans, airflow, inlet temperature and heat-sink seating."
                results.append(_result(self.name, "degraded", why, act, dev))
            elif power:
                why = f"power throttling ({', '.join(power)})"
                if "power_w" in dev.metrics and "power_limit_w" in dev.metrics:
                    why += f", {dev.metrics['power_w']:.0f} W of {dev.metrics['power_limit_w']:.0f} W"
                act = "Check the power supply and the board's power connectors."
                results.append(_result(self.name, "degraded", why, act, dev))
        if results:
            return results
        capped = sum(1 for dev in ctx.devices if "sw_power_cap" in dev.throttle_reasons)
        note = f" ({capped} at its power cap, as expected under full load)" if capped else ""
        return _ok(self.name, "no thermal or power throttling" + note)


class MissingDevices:
    """Devices in the known inventory that are gone now, or that the driver reports as lost."""

    name = "missing_devices"

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        results = []
        present = {d.info.uuid for d in ctx.devices if not d.lost}
        act = "Drain the node and reboot; if the device stays missing, reseat it or send it for inspection."
        for dev in ctx.devices:
            if dev.lost:
                results.append(_result(self.name, "unhealthy", "device is lost (fell off the bus)", act, dev))
        lost = {d.info.uuid for d in ctx.devices if d.lost}
        for info in ctx.baseline:
            if info.uuid not in present and info.uuid not in lost:
                why = f"{info.vendor} device {info.index} ({info.model}, {info.uuid}) is missing"
                results.append(HealthResult(self.name, "unhealthy", why, act, info.uuid, info.index))
        return results or _ok(self.name, f"all {len(present)} known devices present")


class PersistenceMode:
    """Persistence mode off means slow, racy driver start-up for every job (NVIDIA, Gaudi)."""

    name = "persistence_mode"

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        act = "Enable persistence mode (nvidia-persistenced or nvidia-smi -pm 1); the agent never changes it."
        results = [
            _result(self.name, "degraded", "persistence mode is disabled", act, dev)
            for dev in ctx.devices
            if dev.persistence_mode is False
        ]
        return results or _ok(self.name, "persistence mode enabled where supported")


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
                results.append(_result(self.name, "degraded", f"reads failed: {why}", act, dev))
        return results or _ok(self.name, "every backend read cleanly")


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
            results.append(_result(self.name, state, f"vendor reports health {verdict!r}", act, dev))
        return results or _ok(self.name, "no vendor-reported problems")


class HostPressure:
    """Disk and memory pressure on the host."""

    name = "host_pressure"

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        host = ctx.host_metrics
        results = []
        checks = [("memory", "memory_used_percent", host.get("memory_used_percent"))]
        checks += [
            (f"disk {key[len('disk_used_percent[') : -1]}", "disk_used_percent", value)
            for key, value in sorted(host.items())
            if key.startswith("disk_used_percent[")
        ]
        for what, kind, value in checks:
            if value is None:
                continue
            bad = ctx.threshold(f"{kind.split('_')[0]}_unhealthy_percent", 97.0)
            warn = ctx.threshold(f"{kind.split('_')[0]}_degraded_percent", 90.0)
            if value >= warn:
                state = "unhealthy" if value >= bad else "degraded"
                act = (
                    "Free disk space."
                    if what.startswith("disk")
                    else "Find and stop the process using memory."
                )
                why = f"{what} is {value:.1f} % used"
                results.append(HealthResult(self.name, state, why, act, subject=what))
        return results or _ok(self.name, "disk and memory use below limits")


for _cls in (
    XidErrors,
    EccHealth,
    Throttling,
    MissingDevices,
    PersistenceMode,
    CollectionErrors,
    VendorHealth,
    HostPressure,
):
    register(_cls.name, _cls)
