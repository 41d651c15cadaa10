"""The physical bound: how far a reply can have travelled in a given round-trip time.

Only this bound may support a *proof*. Delay can be added by a slow route, a busy
host or an adversary, but never removed, so a round-trip time of ``r`` ms limits
the one-way great-circle distance to ``v_max · max(r − allowance, 0) / 2``. The
default ``v_max`` is two thirds of the speed of light in vacuum (light in fibre),
about 99.93 km per millisecond of round-trip time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetproof.geo.sphere import DISTANCE_REL_ERROR, EARTH_RADIUS_KM

__all__ = ["SPEED_OF_LIGHT_KM_PER_MS", "SpeedModel"]

SPEED_OF_LIGHT_KM_PER_MS = 299.792458
#: Angular slack added to every disk (radians, about 6 m) so rounding never excludes a true place.
_ANGLE_EPS_RAD = 1e-6


@dataclass(frozen=True)
class SpeedModel:
    """Speed bound: ``v_max_km_per_ms`` one-way, ``allowance_ms`` subtracted from each RTT first.

    >>> SpeedModel().max_distance_km(10.0).round(2)
    np.float64(999.31)
    >>> float(SpeedModel(allowance_ms=2.0).max_distance_km(1.0))
    0.0
    """

    v_max_km_per_ms: float = SPEED_OF_LIGHT_KM_PER_MS * 2.0 / 3.0
    allowance_ms: float = 0.0

    def __post_init__(self) -> None:
        if not (self.v_max_km_per_ms > 0 and np.isfinite(self.v_max_km_per_ms)):
            raise ValueError("v_max_km_per_ms must be a positive number")
        if not (self.allowance_ms >= 0 and np.isfinite(self.allowance_ms)):
            raise ValueError("allowance_ms must be a non-negative number")

    def max_distance_km(self, rtt_ms: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Largest one-way distance (km) that the round-trip time allows; NaN stays NaN."""
        rtt = np.asarray(rtt_ms, dtype=np.float64)
        return np.asarray(self.v_max_km_per_ms * np.maximum(rtt - self.allowance_ms, 0.0) / 2.0)

    def max_angle_rad(self, rtt_ms: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The bound as a central angle, widened for the sphere's error; capped at π (whole Earth)."""
        km = self.max_distance_km(rtt_ms) * (1.0 + DISTANCE_REL_ERROR)
        return np.asarray(np.minimum(km / EARTH_RADIUS_KM + _ANGLE_EPS_RAD, np.pi))

    def to_json(self) -> dict[str, float]:
        return {"v_max_km_per_ms": self.v_max_km_per_ms, "allowance_ms": self.allowance_ms}
