"""The planning delay model and the engine settings a plan is made with.

A plan asks what an *honest* host at a site would measure at best, and whether
the engine would then say ``proven``. The delay model is deliberately simple and
stated in full:

    one-way delay  = d · F / v  +  A (site end)  +  A (landmark end)
    RTT            = 2 · one-way = 2 · d · F / v + 4 · A

with ``d`` the great-circle distance (km), ``v`` the engine's speed bound (two
thirds of the speed of light, 199.86 km/ms one-way), ``F`` the route inflation
(``--inflation``) and ``A`` the access delay per end (``--access-ms``). The
engine turns such an RTT back into a disk of radius ``v · RTT / 2 = d · F + 2 · A · v``
around the landmark (plus its own 0.6 % allowance for the sphere), so a landmark
``d`` km from a site confines the site to ``d · F + 40 km`` with the default access.

:data:`DEFAULT_INFLATION` is measured on real data (``benchmarks/plan_inflation.py``
on the WonderProxy mesh): among landmark pairs 50–1,000 km apart, after the engine's
vetting and with each landmark's access delay as the engine's calibration estimates
it (:func:`fleetproof.geo.calibrate.access_delays`) taken off, the 10th percentile of
RTT / (2 · d / v) is 1.39 — a route one honest host in ten beats. Planning with a low
percentile is the point: it is the best case, the RTT above which no proof can be
bought with that deployment.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetproof.geo import SpeedModel, Verifier
from fleetproof.geo.sphere import DISTANCE_REL_ERROR

__all__ = [
    "DEFAULT_ACCESS_MS",
    "DEFAULT_BUDGET_STEP_MS",
    "DEFAULT_INFLATION",
    "DEFAULT_MIN_HEADROOM_MS",
    "DelayPlan",
    "EngineSettings",
]

#: Route inflation over the great circle (see the module docstring for its source).
DEFAULT_INFLATION = 1.4
#: Access delay per end, one-way (ms): a host or landmark in a well-connected data centre.
DEFAULT_ACCESS_MS = 0.1
#: Resolution of a proof budget (ms of RTT, about 5 km of disk radius: finer than RTTs repeat).
DEFAULT_BUDGET_STEP_MS = 0.05
#: Least joint margin (ms of RTT) a proof must have to count as provable: every proving landmark may
#: show this much more than modelled, all at once. 0.1 ms is the 10th percentile, rounded, of the
#: spread between a path's mean and its minimum RTT over the WonderProxy pairs 50 km or less apart
#: (16 pairs: p10 0.096 ms, median 0.19 ms): the jitter a same-metro path shows at its quietest, and
#: the same low percentile the default inflation is taken at. Two budget grid steps.
DEFAULT_MIN_HEADROOM_MS = 0.1

FloatArray = npt.NDArray[np.float64]


def _verifier_default(name: str) -> int:
    """A :class:`~fleetproof.geo.Verifier` keyword default: the server builds its engine without
    overriding these, so reading them here keeps a plan on the server's settings when they change."""
    value = inspect.signature(Verifier.__init__).parameters[name].default
    assert isinstance(value, int)
    return value


@dataclass(frozen=True)
class EngineSettings:
    """What the engine is built with: the server's defaults unless the operator says otherwise."""

    tolerance: int = field(default_factory=lambda: _verifier_default("tolerance"))
    min_landmarks: int = field(default_factory=lambda: _verifier_default("min_landmarks"))
    refine_depth: int = field(default_factory=lambda: _verifier_default("refine_depth"))
    speed: SpeedModel = field(default_factory=SpeedModel)

    def to_json(self) -> dict[str, object]:
        return {
            "tolerance": self.tolerance,
            "min_landmarks": self.min_landmarks,
            "refine_depth": self.refine_depth,
            "speed": self.speed.to_json(),
        }


@dataclass(frozen=True)
class DelayPlan:
    """The best-case RTT an honest host would measure to a landmark ``d`` km away.

    >>> round(float(DelayPlan(inflation=1.0, access_ms=0.1).rtt_ms(0.0)), 3)
    0.4
    >>> round(float(DelayPlan(inflation=1.0, access_ms=0.0).rtt_ms(199.86)), 2)
    2.0
    """

    inflation: float = DEFAULT_INFLATION
    access_ms: float = DEFAULT_ACCESS_MS
    speed: SpeedModel = field(default_factory=SpeedModel)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.inflation) and self.inflation >= 1.0):
            raise ValueError(
                "inflation must be a number ≥ 1 (a route is never shorter than the great circle)"
            )
        if not (np.isfinite(self.access_ms) and self.access_ms >= 0.0):
            raise ValueError("access delay must be a non-negative number of ms")

    def rtt_ms(self, distance_km: npt.ArrayLike) -> FloatArray:
        """Modelled RTT (ms) for great-circle distances (km): ``2·d·F/v + 4·A``."""
        d = np.asarray(distance_km, dtype=np.float64)
        v = self.speed.v_max_km_per_ms
        return np.asarray(2.0 * d * self.inflation / v + 4.0 * self.access_ms)

    def reach_km(self, distance_km: npt.ArrayLike) -> FloatArray:
        """Radius (km) of the engine's disk for the modelled RTT, sphere allowance included."""
        return np.asarray(
            self.speed.max_distance_km(self.rtt_ms(distance_km)) * (1.0 + DISTANCE_REL_ERROR),
            dtype=np.float64,
        )

    def rtt_for_reach_ms(self, reach_km: npt.ArrayLike) -> FloatArray:
        """The RTT whose engine disk has radius ``reach_km`` (the inverse of :meth:`reach_km`'s bound)."""
        r = np.asarray(reach_km, dtype=np.float64) / (1.0 + DISTANCE_REL_ERROR)
        return np.asarray(2.0 * r / self.speed.v_max_km_per_ms + self.speed.allowance_ms)

    def floor_km(self) -> float:
        """The smallest disk any landmark can give (one at the site itself): access delay alone."""
        return float(self.reach_km(0.0))

    def to_json(self) -> dict[str, object]:
        return {
            "inflation": self.inflation,
            "access_ms_per_end": self.access_ms,
            "v_max_km_per_ms": round(self.speed.v_max_km_per_ms, 4),
            "rtt_ms": "2 * distance_km * inflation / v_max_km_per_ms + 4 * access_ms_per_end",
        }
