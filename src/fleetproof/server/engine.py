"""The pipeline's and the mesh's view of the location engine (:mod:`fleetproof.geo`).

:class:`GeoVerifier` turns a zone's policy into one engine claim — a region when the
zone has one, else its allowed countries, else its site as a point — and asks the
engine for the verdict, the estimate, the evidence and the feasible region. Engine
objects are built once per set of trusted landmarks and reused, so judging a host
costs one engine call. :class:`GeoVetter` runs the engine's mesh vetting.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from fleetproof.server.pipeline import Outcome, Round
from fleetproof.server.store.models import Landmark as LandmarkRow
from fleetproof.server.vetting import MeshPair, VettingResult

__all__ = ["MAX_REGION_CELLS", "GeoVerifier", "GeoVetter"]

# A feasible region larger than this many grid cells is not stored (it says little and costs space).
MAX_REGION_CELLS = 4000


class GeoVerifier:
    def __init__(self, *, countries: Any = None, model: Any = None) -> None:
        self._countries = countries
        self._model = model
        self._lock = threading.Lock()
        self._cache: dict[tuple[tuple[str, float, float], ...], Any] = {}

    def _engine(self, round_: Round) -> Any:
        from fleetproof.geo import Landmark, Verifier

        key = tuple((lm.id, lm.lat, lm.lon) for lm in round_.landmarks)
        with self._lock:
            engine = self._cache.get(key)
            if engine is None:
                if self._countries is None:
                    from fleetproof.geodata import load_countries

                    self._countries = load_countries()
                engine = Verifier(
                    [Landmark(i, lat, lon) for i, lat, lon in key], self._countries, model=self._model
                )
                self._cache = {key: engine}  # trusted sets change rarely; keep the newest only
            return engine

    def verify(self, round_: Round) -> Outcome:
        from fleetproof.geo import Claim

        engine = self._engine(round_)
        zone, target = round_.zone, round_.device_id
        claims: list[Any] = []
        if zone.allowed_region is not None:
            claims = [Claim.in_region(f"zone:{zone.id}", target, zone.allowed_region, name=zone.id)]
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
