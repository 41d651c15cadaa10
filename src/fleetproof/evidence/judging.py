"""The one path from measurements to a verdict, shared by the fleet server and the offline verifier.

The server's pipeline and ``fleetproof evidence verify`` must judge a host the same
way, or a bundle could never reproduce a verdict (or, worse, would reproduce one the
server did not make). So each step lives here once:

1. :func:`round_rtts` — the minimum RTT per *trusted* landmark over a window's records;
2. :func:`zone_claims` — a zone's policy as one engine claim (region, else countries,
   else the site as a point);
3. :func:`calibrated_model` / :func:`build_engine` — the engine, with the delay model
   fitted on the landmark mesh among those landmarks, and the engine settings;
4. :func:`judge` — the engine's verdict, estimate and evidence for one host.

Nothing here reads a clock, a database or a socket; the country table is an argument.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import numpy as np

from fleetproof.geo import (
    Claim,
    CountryTable,
    DelayModel,
    Landmark,
    MeshLink,
    SpeedModel,
    Verifier,
    calibrate,
)
from fleetproof.geo.refine import DEFAULT_DEPTH

__all__ = [
    "MAX_REFINE_DEPTH",
    "MAX_REGION_CELLS",
    "EngineSettings",
    "Judgement",
    "ZoneLike",
    "build_engine",
    "calibrated_model",
    "countries_sha256",
    "judge",
    "judge_many",
    "round_rtts",
    "zone_claims",
    "zone_json",
]

#: The deepest refinement a stored basis may ask for (the engine's default is 3).
MAX_REFINE_DEPTH = 6
#: A feasible region larger than this many grid cells is not kept as GeoJSON (it says little and costs space).
MAX_REGION_CELLS = 4000


class ZoneLike(Protocol):
    """What a verdict needs of a zone (the server's ``ZonePolicy`` and the bundle's zone both fit)."""

    @property
    def id(self) -> str: ...
    @property
    def allowed_countries(self) -> Sequence[str]: ...
    @property
    def allowed_region(self) -> Mapping[str, Any] | None: ...
    @property
    def site_lat(self) -> float | None: ...
    @property
    def site_lon(self) -> float | None: ...


def zone_json(zone: ZoneLike) -> dict[str, Any]:
    """The policy part of a zone, as stored with each verdict and carried in an evidence bundle."""
    return {
        "id": zone.id,
        "allowed_countries": list(zone.allowed_countries),
        "allowed_region": dict(zone.allowed_region) if zone.allowed_region is not None else None,
        "site_lat": zone.site_lat,
        "site_lon": zone.site_lon,
    }


@dataclass(frozen=True)
class EngineSettings:
    """The engine's knobs that decide a verdict; stored with every verdict so it can be recomputed."""

    tolerance: int = 1
    min_landmarks: int = 3
    v_max_km_per_ms: float = SpeedModel().v_max_km_per_ms
    allowance_ms: float = 0.0
    refine_depth: int = DEFAULT_DEPTH

    def speed(self) -> SpeedModel:
        return SpeedModel(self.v_max_km_per_ms, self.allowance_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "tolerance": self.tolerance,
            "min_landmarks": self.min_landmarks,
            "v_max_km_per_ms": self.v_max_km_per_ms,
            "allowance_ms": self.allowance_ms,
            "refine_depth": self.refine_depth,
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> EngineSettings:
        """Settings from a stored basis; ``ValueError`` for values no server would use.

        The bounds keep a hostile bundle from making the verifier's work explode (every level of
        ``refine_depth`` multiplies the cells refined by 16).
        """
        settings = EngineSettings(
            tolerance=int(doc["tolerance"]),
            min_landmarks=int(doc["min_landmarks"]),
            v_max_km_per_ms=float(doc["v_max_km_per_ms"]),
            allowance_ms=float(doc["allowance_ms"]),
            refine_depth=int(doc["refine_depth"]),
        )
        if not 0 <= settings.tolerance <= 16:
            raise ValueError(f"tolerance {settings.tolerance} is outside 0..16")
        if not 1 <= settings.min_landmarks <= 10_000:
            raise ValueError(f"min_landmarks {settings.min_landmarks} is outside 1..10000")
        if not 0 <= settings.refine_depth <= MAX_REFINE_DEPTH:
            raise ValueError(f"refine_depth {settings.refine_depth} is outside 0..{MAX_REFINE_DEPTH}")
        settings.speed()  # a ValueError for a speed or allowance that is not a positive finite number
        return settings


@dataclass(frozen=True)
class Judgement:
    """What the engine says about one host: the server stores it; the verifier compares it."""

    verdict: str
    suspicious: bool
    estimate: dict[str, Any] | None
    evidence: dict[str, Any] = field(default_factory=dict)
    region: dict[str, Any] | None = None


def round_rtts(rows: Iterable[tuple[str, float]], trusted: Container[str]) -> dict[str, float]:
    """Minimum RTT per trusted landmark over ``(landmark_id, rtt_ms)`` rows; others are left out."""
    best: dict[str, float] = {}
    for landmark_id, rtt in rows:
        if landmark_id in trusted:
            value = float(rtt)
            if landmark_id not in best or value < best[landmark_id]:
                best[landmark_id] = value
    return best


def zone_claims(zone: ZoneLike, target: str) -> tuple[list[Claim], str | None]:
    """The zone's policy as engine claims, and why there are none when its region cannot be read."""
    if zone.allowed_region is not None:
        try:
            return [Claim.in_region(f"zone:{zone.id}", target, zone.allowed_region, name=zone.id)], None
        except (ValueError, KeyError, TypeError) as exc:
            # A region stored before regions were checked on the way in: no claim can be tested, so the
            # verdict is "unknown", with why, until the zone is fixed.
            return [], f"zone {zone.id}: allowed_region is not a valid polygon ({exc}); fix the zone"
    if zone.allowed_countries:
        return [Claim.country(f"zone:{zone.id}", target, *zone.allowed_countries)], None
    if zone.site_lat is not None and zone.site_lon is not None:
        return [Claim.point(f"zone:{zone.id}", target, zone.site_lat, zone.site_lon)], None
    return [], None


def calibrated_model(
    landmarks: Sequence[Landmark], pairs: Iterable[tuple[str, str, float]], countries: CountryTable | None
) -> DelayModel | None:
    """The delay model fitted on the mesh pairs among ``landmarks``; None (engine default) without any."""
    ids = {lm.id for lm in landmarks}
    links = [MeshLink(a, b, rtt) for a, b, rtt in pairs if a in ids and b in ids]
    return calibrate(landmarks, links, countries=countries) if links else None


def build_engine(
    landmarks: Sequence[Landmark],
    countries: CountryTable | None,
    model: DelayModel | None,
    settings: EngineSettings,
) -> Verifier:
    return Verifier(
        landmarks,
        countries,
        speed=settings.speed(),
        model=model,
        tolerance=settings.tolerance,
        min_landmarks=settings.min_landmarks,
        refine_depth=settings.refine_depth,
    )


def judge(engine: Verifier, device_id: str, rtts: Mapping[str, float], zone: ZoneLike) -> Judgement:
    """The engine's verdict for one host's RTTs against its zone, with evidence and feasible region."""
    return judge_many(engine, device_id, [rtts], zone)[0]


def judge_many(
    engine: Verifier,
    device_id: str,
    rounds: Sequence[Mapping[str, float]],
    zone: ZoneLike,
    *,
    with_region: bool = True,
) -> list[Judgement]:
    """:func:`judge` for several rounds of one host at once (one vectorised engine call).

    The server judges one round at a time; the offline verifier recomputes a bundle's
    verdicts together. Each row of the engine's matrix is decided on its own, so both
    give the same answer for the same round. ``with_region=False`` leaves out the feasible
    region's GeoJSON (its cell count stays in the evidence), which only the server keeps.
    """
    if not rounds:
        return []
    rows = np.stack([engine.rtt_row(r) for r in rounds])
    per_row = [zone_claims(zone, device_id) for _ in rounds]  # one Claim object per row
    pairs = [(i, claims[0]) for i, (claims, _) in enumerate(per_row) if claims]
    results = engine.verify_matrix([device_id] * len(rounds), rows, pairs)
    out = []
    for i, result in enumerate(results):
        claims, zone_error = per_row[i]
        region = engine.region_of_row(rows[i])
        evidence = dict(result.evidence)
        evidence["claim"] = claims[0].to_json() if claims else None
        if zone_error is not None:
            evidence["zone_error"] = zone_error
        evidence["region_cells"] = len(region.cells)
        out.append(
            Judgement(
                verdict=result.verdict or "unknown",  # a zone without a policy: nothing to decide
                suspicious=bool(result.suspicious),
                estimate=result.estimate.to_json(),
                evidence=evidence,
                region=region.to_geojson()
                if with_region and 0 < len(region.cells) <= MAX_REGION_CELLS
                else None,
            )
        )
    return out


@lru_cache(maxsize=1)
def countries_sha256() -> str:
    """Digest of the bundled country table: two engines with different tables may judge differently."""
    from fleetproof.geodata import CELLS_FILE

    data = resources.files("fleetproof.data").joinpath(CELLS_FILE).read_bytes()
    return hashlib.sha256(data).hexdigest()
