"""The pipeline's and the mesh's view of the location engine (:mod:`fleetproof.geo`).

:class:`GeoVerifier` turns a zone's policy into one engine claim — a region when the
zone has one, else its allowed countries, else its site as a point — and asks the
engine for the verdict, the estimate, the evidence and the feasible region. Engine
objects are built once per set of trusted landmarks and reused, so judging a host
costs one engine call. :class:`GeoVetter` runs the engine's mesh vetting.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any, Protocol

from fleetproof.server.pipeline import Outcome, Round
from fleetproof.server.store.models import Landmark as LandmarkRow
from fleetproof.server.vetting import MeshPair, VettingResult

__all__ = ["MAX_REGION_CELLS", "GeoVerifier", "GeoVetter", "MeshSource"]

# A feasible region larger than this many grid cells is not stored (it says little and costs space).
MAX_REGION_CELLS = 4000


class MeshSource(Protocol):
    """Where the landmark mesh comes from: a cheap version stamp, and the pairs themselves."""

    def version(self) -> Hashable: ...

    def pairs(self) -> Sequence[MeshPair]: ...


class GeoVerifier:
    """Verdicts from the engine, with a delay model calibrated on the landmark mesh.

    With a ``mesh`` source (and no fixed ``model``), the engine's delay model — what the
    estimate and the ``suspicious`` test rest on — is fitted to the latest mesh among the
    round's landmarks, and refitted when the mesh changes (its version stamp moves). The
    model lives in the store's data, not in this process, so every server process fits the
    same one. Without a mesh the engine's default model is used.
    """

    CACHE_SIZE = 8

    def __init__(self, *, countries: Any = None, model: Any = None, mesh: MeshSource | None = None) -> None:
        self._countries = countries
        self._model = model
        self._mesh = mesh
        self._lock = threading.Lock()
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()

    def _engine(self, round_: Round) -> Any:
        from fleetproof.geo import Landmark, Verifier

        landmarks = tuple((lm.id, lm.lat, lm.lon) for lm in round_.landmarks)
        version = self._mesh.version() if self._mesh is not None and self._model is None else None
        key = (landmarks, version)
        with self._lock:
            engine = self._cache.get(key)
            if engine is not None:
                self._cache.move_to_end(key)
                return engine
            if self._countries is None:
                from fleetproof.geodata import load_countries

                self._countries = load_countries()
            geo_landmarks = [Landmark(i, lat, lon) for i, lat, lon in landmarks]
            model = self._model if version is None else self._calibrated(geo_landmarks)
            engine = Verifier(geo_landmarks, self._countries, model=model)
            self._cache[key] = engine
            while len(self._cache) > self.CACHE_SIZE:  # hosts reaching other landmark subsets
                self._cache.popitem(last=False)
            return engine

    def _calibrated(self, landmarks: list[Any]) -> Any:
        from fleetproof.geo import MeshLink, calibrate

        assert self._mesh is not None
        ids = {lm.id for lm in landmarks}
        links = [
            MeshLink(p.source_id, p.target_id, p.rtt_ms)
            for p in self._mesh.pairs()
            if p.source_id in ids and p.target_id in ids
        ]
        return calibrate(landmarks, links, countries=self._countries) if links else None

    def verify(self, round_: Round) -> Outcome:
        from fleetproof.geo import Claim

        engine = self._engine(round_)
        zone, target = round_.zone, round_.device_id
        claims: list[Any] = []
        zone_error: str | None = None
        if zone.allowed_region is not None:
            try:
                claims = [Claim.in_region(f"zone:{zone.id}", target, zone.allowed_region, name=zone.id)]
            except (ValueError, KeyError, TypeError) as exc:
                # A region stored before the API checked regions as it does now: no claim can be
                # tested, so the verdict is "unknown", with why, until the zone is fixed.
                zone_error = f"zone {zone.id}: allowed_region is not a valid polygon ({exc}); fix the zone"
        elif zone.allowed_countries:
            claims = [Claim.country(f"zone:{zone.id}", target, *zone.allowed_countries)]
        elif zone.site_lat is not None and zone.site_lon is not None:
            claims = [Claim.point(f"zone:{zone.id}", target, zone.site_lat, zone.site_lon)]
        result = engine.verify(round_.rtts_ms, claims, target=target)[0]
        region_doc: dict[str, Any] | None = None
        region = engine.region(round_.rtts_ms)
        if 0 < len(region.cells) <= MAX_REGION_CELLS:
            region_doc = region.to_geojson()
        evidence = dict(result.evidence)
        evidence["claim"] = claims[0].to_json() if claims else None
        if zone_error is not None:
            evidence["zone_error"] = zone_error
        evidence["region_cells"] = len(region.cells)
        return Outcome(
            verdict=result.verdict or "unknown",  # a zone without a policy: nothing to decide
            suspicious=bool(result.suspicious),
            estimate=result.estimate.to_json(),
            evidence=evidence,
            region=region_doc,
        )


class GeoVetter:
    def vet(self, landmarks: Sequence[LandmarkRow], pairs: Sequence[MeshPair]) -> VettingResult:
        from fleetproof.geo import Landmark, MeshLink, vet_landmarks

        known = {lm.id for lm in landmarks}
        report = vet_landmarks(
            [Landmark(lm.id, lm.lat, lm.lon, lm.country) for lm in landmarks],
            [
                MeshLink(p.source_id, p.target_id, p.rtt_ms)
                for p in pairs
                if {p.source_id, p.target_id} <= known
            ],
        )
        conflicts: dict[str, int] = {}
        for c in report.conflicts:
            conflicts[c.a] = conflicts.get(c.a, 0) + 1
            conflicts[c.b] = conflicts.get(c.b, 0) + 1
        return VettingResult(
            quarantined={q.id: q.reason for q in report.quarantined},
            details={lm.id: {"conflicts": conflicts.get(lm.id, 0)} for lm in landmarks},
        )
