"""Xid errors: each event judged by the Xid catalog, kept for a window of time."""

from __future__ import annotations

from fleetproof.agent.checks.base import CheckContext, HealthResult, ok, result
from fleetproof.agent.checks.xid_catalog import describe
from fleetproof.agent.collectors.base import DeviceReading, XidEvent
from fleetproof.agent.setting import Setting

__all__ = ["XidErrors"]

XID_WINDOW = Setting("xid_window_s", 3600.0, "How long an Xid event keeps affecting health, seconds.")


class XidErrors:
    """Xid events, judged by the catalog; an event keeps affecting health for ``xid_window_s``."""

    name = "xid"
    settings = (XID_WINDOW,)

    def __init__(self) -> None:
        self._recent: dict[str, list[tuple[XidEvent, DeviceReading]]] = {}

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        window = ctx.threshold(XID_WINDOW)
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
            results.append(result(self.name, state, reason, worst_info.action, kept[-1][1]))
        return results or ok(self.name, "no Xid events that affect health")
