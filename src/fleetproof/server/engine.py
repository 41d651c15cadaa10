"""The pipeline's and the mesh's view of the location engine (:mod:`fleetproof.geo`).

:class:`GeoVerifier` asks the engine for the verdict, the estimate, the evidence and the
feasible region through :mod:`fleetproof.evidence.judging` — the same functions the
offline verifier (``fleetproof evidence verify``) recomputes verdicts with. Engine
objects are built once per set of trusted landmarks and mesh version and reused, so
judging a host costs one engine call. Every outcome carries its *basis*: the window and
records, the landmark positions, the zone policy, the mesh the delay model was fitted
on and the engine settings — what an evidence bundle needs to reproduce the verdict.
:class:`GeoVetter` runs the engine's mesh vetting.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any, Protocol

from fleetproof import __version__
from fleetproof.evidence.judging import (
    MAX_REGION_CELLS,
    EngineSettings,
    build_engine,
    calibrated_model,
    countries_sha256,
    judge,
    zone_json,
)
from fleetproof.server.pipeline import Outcome, Round
from fleetproof.server.store.models import Landmark as LandmarkRow
from fleetproof.server.vetting import MeshPair, MeshSnapshot, VettingResult

__all__ = ["MAX_REGION_CELLS", "GeoVerifier", "GeoVetter", "MeshSource"]


class MeshSource(Protocol):
    """Where the landmark mesh comes from: a cheap version stamp, and the pairs of one version."""

    def version(self) -> Hashable: ...

    def snapshot(self, version: Hashable) -> MeshSnapshot: ...


class GeoVerifier:
    """Verdicts from the engine, with a delay model calibrated on the landmark mesh.

    With a ``mesh`` source (and no fixed ``model``), the engine's delay model — what the
    estimate and the ``suspicious`` test rest on — is fitted to the mesh among the round's
    landmarks, and refitted when the mesh changes (its version stamp moves). The model
    lives in the store's data, not in this process, so every server process fits the
    same one. Without a mesh the engine's default model is used.
    """

    CACHE_SIZE = 8

    def __init__(
        self,
        *,
        countries: Any = None,
        model: Any = None,
        mesh: MeshSource | None = None,
        settings: EngineSettings | None = None,
    ) -> None:
        self._countries = countries
        self._model = model
        self._mesh = mesh
        self.settings = settings or EngineSettings()
        self._lock = threading.Lock()
        self._cache: OrderedDict[Hashable, tuple[Any, dict[str, Any] | None]] = OrderedDict()

    def _engine(self, round_: Round) -> Any:
        return self._engine_and_calibration(round_)[0]

    def _engine_and_calibration(self, round_: Round) -> tuple[Any, dict[str, Any] | None]:
        from fleetproof.geo import Landmark

        landmarks = tuple((lm.id, lm.lat, lm.lon) for lm in round_.landmarks)
        version = self._mesh.version() if self._mesh is not None and self._model is None else None
        key = (landmarks, version)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            if self._countries is None:
                from fleetproof.geodata import load_countries

                self._countries = load_countries()
            geo_landmarks = [Landmark(i, lat, lon) for i, lat, lon in landmarks]
            model, calibration = self._model, None
            if version is not None and self._mesh is not None:
                snapshot = self._mesh.snapshot(version)
                pairs = [(p.source_id, p.target_id, p.rtt_ms) for p in snapshot.pairs]
                model = calibrated_model(geo_landmarks, pairs, self._countries)
                calibration = snapshot.basis
            elif model is not None:
                calibration = {"model": model.to_json()}  # a fixed model: carry it whole
            entry = (build_engine(geo_landmarks, self._countries, model, self.settings), calibration)
            self._cache[key] = entry
            while len(self._cache) > self.CACHE_SIZE:  # hosts reaching other landmark subsets
                self._cache.popitem(last=False)
            return entry

    def verify(self, round_: Round) -> Outcome:
        engine, calibration = self._engine_and_calibration(round_)
        judged = judge(engine, round_.device_id, round_.rtts_ms, round_.zone)
        basis = {
            "window": {"since": round_.since, "until": round_.until},
            "records": list(round_.record_ids),
            "landmarks": [[lm.id, lm.lat, lm.lon] for lm in round_.landmarks],
            "zone": zone_json(round_.zone),
            "calibration": calibration,
            "engine": self.settings.to_json(),
            "countries_sha256": countries_sha256(),
            "fleetproof_version": __version__,
        }
        return Outcome(
            verdict=judged.verdict,
            suspicious=judged.suspicious,
            estimate=judged.estimate,
            evidence=judged.evidence,
            region=judged.region,
            basis=basis,
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
