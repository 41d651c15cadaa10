"""Thermal and power throttling, and temperatures above the limit."""

from __future__ import annotations

from fleetproof.agent.checks.base import CheckContext, HealthResult, ok, result
from fleetproof.agent.setting import Setting

__all__ = ["Throttling"]

TEMPERATURE_DEGRADED = Setting(
    "temperature_degraded_c", 87.0, "Device temperature at which it is degraded, °C."
)


class Throttling:
    """Thermal throttling, temperatures above the limit, and power slowdowns that are not just the cap.

    Software power capping (``sw_power_cap``) alone is not a problem: a GPU under a dense
    load runs at its power limit by design (an H200 multiplying bf16 matrices sat at 689 W of
    700 W with ``sw_power_cap`` set, docs/hardware-runs.md), so flagging it would mark every
    busy board degraded. A hardware power brake (``hw_power_brake_slowdown``, asserted from
    outside the board, e.g. by the power supply) still is.
    """

    name = "throttling"
    settings = (TEMPERATURE_DEGRADED,)

    def check(self, ctx: CheckContext) -> list[HealthResult]:
        hot = ctx.threshold(TEMPERATURE_DEGRADED)
        results = []
        for dev in ctx.devices:
            reasons = dev.throttle_reasons
            thermal = sorted(r for r in reasons if "thermal" in r or r == "hw_slowdown")
            power = sorted(r for r in reasons if "power" in r and r != "sw_power_cap")
            temp = dev.metrics.get("temperature_c")
            if thermal or (temp is not None and temp >= hot):
                why = f"thermal throttling ({', '.join(thermal) or 'none reported'}), temperature {temp} °C"
                act = "Check cooling: fans, airflow, inlet temperature and heat-sink seating."
                results.append(result(self.name, "degraded", why, act, dev))
            elif power:
                why = f"power throttling ({', '.join(power)})"
                if "power_w" in dev.metrics and "power_limit_w" in dev.metrics:
                    why += f", {dev.metrics['power_w']:.0f} W of {dev.metrics['power_limit_w']:.0f} W"
                act = "Check the power supply and the board's power connectors."
                results.append(result(self.name, "degraded", why, act, dev))
        if results:
            return results
        capped = sum(1 for dev in ctx.devices if "sw_power_cap" in dev.throttle_reasons)
        note = f" ({capped} at its power cap, as expected under full load)" if capped else ""
        return ok(self.name, "no thermal or power throttling" + note)
