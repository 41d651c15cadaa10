"""What a verdict looks like: :class:`Result`, :class:`Estimate`, and the evidence every path shares.

The point and area paths (:mod:`fleetproof.geo.point_verdicts`, :mod:`fleetproof.geo.area_verdicts`)
each return an :data:`Outcome`; the :class:`~fleetproof.geo.verdict.Verifier` wraps it in a
:class:`Result` with the target's estimate and the evidence every result carries. The pieces of
evidence that more than one path writes (the claim's description, a contradicting landmark) are
built here, once, so that the JSON a client reads does not depend on which path decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from fleetproof.geo.claims import Claim
from fleetproof.geo.countries import CountryTable
from fleetproof.geo.estimate import EstimateBatch
from fleetproof.geo.grid import Grid
from fleetproof.geo.landmarks import LandmarkSet
from fleetproof.geo.model import DelayModel
from fleetproof.geo.speed import SpeedModel

__all__ = [
    "EVIDENCE_LANDMARKS",
    "Engine",
    "Estimate",
    "Outcome",
    "Result",
    "Verdict",
    "base_evidence",
    "contradiction",
    "describe",
    "estimates",
    "rounded",
]

Verdict = Literal["violation", "proven", "consistent", "unknown"]
#: A claim's verdict, whether it is suspicious, and its own evidence (before the common part).
Outcome = tuple[Verdict, bool, dict[str, Any]]
FloatArray = npt.NDArray[np.float64]
#: Contradicting landmarks listed in the evidence, at most.
EVIDENCE_LANDMARKS = 5


class Engine(Protocol):
    """The settings of a :class:`~fleetproof.geo.verdict.Verifier` that the verdict paths read.

    They are read when a claim is decided, not copied when a path is built, so a path always
    follows the verifier it belongs to.
    """

    landmarks: LandmarkSet
    grid: Grid
    countries: CountryTable | None
    speed: SpeedModel
    model: DelayModel
    tolerance: int
    refine_depth: int
    explain: bool


def rounded(x: float, nd: int = 1) -> float | None:
    """``x`` rounded for the evidence; ``None`` (JSON ``null``) where it is not finite."""
    return None if not np.isfinite(x) else round(float(x), nd)


def describe(claim: Claim) -> dict[str, Any]:
    """The claim as its evidence names it: kind, and the point, countries or region claimed.

    >>> describe(Claim.point("p", "h", 48.85, 2.35))
    {'kind': 'point', 'lat': 48.85, 'lon': 2.35}
    """
    if claim.kind == "point":
        return {"kind": "point", "lat": claim.lat, "lon": claim.lon}
    if claim.kind == "countries":
        return {"kind": claim.kind, "countries": list(claim.countries)}
    return {"kind": claim.kind, "region": claim.region_name}


def contradiction(landmark: str, rtt_ms: float, bound_km: float, distance_km: float) -> dict[str, Any]:
    """One landmark that excludes the claim: its RTT, the distance it allows, and how far the claim is."""
    return {
        "landmark": landmark,
        "rtt_ms": rounded(rtt_ms, 3),
        "bound_km": rounded(bound_km),
        "distance_km": rounded(distance_km),
    }


@dataclass(frozen=True)
class Estimate:
    """Best point, radius holding 90 % of the posterior, most likely country and its probability."""

    lat: float | None
    lon: float | None
    radius_km: float | None
    country: str | None
    country_p: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "lat": self.lat,
            "lon": self.lon,
            "radius_km": self.radius_km,
            "country": self.country,
            "country_p": self.country_p,
        }


@dataclass(frozen=True)
class Result:
    """The answer for one claim (or one target without claims: ``verdict`` is then ``None``)."""

    claim: str | None
    target: str
    verdict: Verdict | None
    suspicious: bool
    estimate: Estimate
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "target": self.target,
            "verdict": self.verdict,
            "suspicious": self.suspicious,
            "estimate": self.estimate.to_json(),
            "evidence": self.evidence,
        }


def estimates(est: EstimateBatch, countries: CountryTable | None) -> list[Estimate]:
    """One :class:`Estimate` per row of ``est``, rounded for the report (all ``None``: no measurement)."""
    codes = countries.codes if countries is not None else ()
    lat = np.round(est.lat, 4).tolist()
    lon = np.round(est.lon, 4).tolist()
    rad = np.round(est.radius_km, 1).tolist()
    cp = np.round(est.country_p, 3).tolist()
    out = []
    for i, k in enumerate(est.country.tolist()):
        if lat[i] != lat[i]:  # NaN: no measurement at all
            out.append(Estimate(None, None, None, None, None))
        else:
            out.append(Estimate(lat[i], lon[i], rad[i], codes[k] if k >= 0 else None, cp[i]))
    return out


def base_evidence(engine: Engine, block: FloatArray, n_valid: list[int]) -> list[dict[str, Any]]:
    """The evidence every result carries: how many landmarks, and the three tightest bounds.

    ``block`` holds RTT rows (T, L) in landmark order, ``n_valid`` each row's measured count.
    """
    k = min(3, block.shape[1])
    filled = np.where(np.isfinite(block), block, np.inf)
    part = np.argpartition(filled, k - 1, axis=1)[:, :k] if k < block.shape[1] else np.argsort(filled, axis=1)
    tight = np.take_along_axis(part, np.argsort(np.take_along_axis(filled, part, axis=1), axis=1), axis=1)
    rtts = np.take_along_axis(block, tight, axis=1)
    rtt_l = np.round(rtts, 3).tolist()
    bound_l = np.round(engine.speed.max_distance_km(rtts), 1).tolist()
    ids = engine.landmarks.ids
    out = []
    for i, row in enumerate(tight.tolist()):
        tightest = [
            {"landmark": ids[j], "rtt_ms": rtt_l[i][m], "bound_km": bound_l[i][m]}
            for m, j in enumerate(row)
            if rtt_l[i][m] == rtt_l[i][m]
        ]
        out.append({"landmarks_used": n_valid[i], "tolerance": engine.tolerance, "tightest": tightest})
    return out
