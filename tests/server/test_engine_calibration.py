"""The server's engine is calibrated on the landmark mesh, and refitted when the mesh changes."""

from __future__ import annotations

import csv
from importlib import resources

from fleetproof.geo import DelayModel
from fleetproof.server.engine import GeoVerifier
from fleetproof.server.pipeline import LandmarkInput, Round, ZonePolicy
from fleetproof.server.vetting import MeshPair, MeshSnapshot

SAMPLE = resources.files("fleetproof.batch.data.sample")


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(SAMPLE.joinpath(name).read_text().splitlines()))


class CountingMesh:
    def __init__(self, pairs: list[MeshPair]) -> None:
        self.stamp = 1
        self._pairs = pairs
        self.loads = 0

    def version(self) -> int:
        return self.stamp

    def snapshot(self, version: object) -> MeshSnapshot:
        self.loads += 1
        return MeshSnapshot(tuple(self._pairs), {"mesh_version": version, "since": 0.0})


def _round() -> Round:
    landmarks = [LandmarkInput(r["id"], float(r["lat"]), float(r["lon"])) for r in _rows("landmarks.csv")]
    rtts = {r["landmark"]: float(r["rtt_ms"]) for r in _rows("rtts.csv") if r["target"] == "host-lyon-240"}
    used = [lm for lm in landmarks if lm.id in rtts]
    return Round("host-lyon-240", rtts, used, ZonePolicy("eu", ("FR", "DE")))


def _mesh() -> CountingMesh:
    return CountingMesh([MeshPair(r["a"], r["b"], float(r["rtt_ms"])) for r in _rows("mesh.csv")])


def test_model_is_fitted_on_the_mesh_and_reused_until_it_changes() -> None:
    mesh = _mesh()
    verifier = GeoVerifier(mesh=mesh)
    round_ = _round()
    first = verifier.verify(round_)
    engine = verifier._engine(round_)
    assert engine.model.to_json() != DelayModel.default().to_json()
    assert mesh.loads == 1
    verifier.verify(round_)
    assert mesh.loads == 1  # same mesh version: same engine, no refit
    mesh.stamp = 2
    second = verifier.verify(round_)
    assert mesh.loads == 2  # new mesh rows: refitted
    assert first.verdict == second.verdict == "consistent"


def test_without_a_mesh_the_default_model_is_used() -> None:
    verifier = GeoVerifier()
    engine = verifier._engine(_round())
    assert engine.model.to_json() == DelayModel.default().to_json()


def test_a_stored_zone_region_that_is_no_longer_valid_gives_unknown_with_why() -> None:
    """A zone saved before regions were checked on the way in (here a ring of 3 positions) must not stall
    the device's verdict: it comes out ``unknown`` and says what to fix."""
    from dataclasses import replace

    bad = {"type": "Polygon", "coordinates": [[[0.0, 40.0], [20.0, 40.0], [0.0, 40.0]]]}
    round_ = _round()
    round_ = replace(round_, zone=ZonePolicy("old", (), allowed_region=bad))
    outcome = GeoVerifier().verify(round_)
    assert outcome.verdict == "unknown"
    assert "allowed_region is not a valid polygon" in outcome.evidence["zone_error"]
    assert outcome.estimate is not None and outcome.estimate["lat"] is not None
