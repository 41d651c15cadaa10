from __future__ import annotations

import json

import numpy as np
import pytest

from fleetproof.geo import Claim, DelayModel, Landmark, MeshLink, Verifier, calibrate, distance_km
from fleetproof.geodata import load_countries

KM_PER_MS = 99.93

# A small European mesh: (id, lat, lon)
CITIES = [
    ("par", 48.86, 2.35),
    ("lon", 51.51, -0.13),
    ("ber", 52.52, 13.40),
    ("mad", 40.42, -3.70),
    ("rom", 41.90, 12.50),
    ("vie", 48.21, 16.37),
    ("war", 52.23, 21.01),
    ("sto", 59.33, 18.07),
    ("ams", 52.37, 4.90),
    ("zur", 47.37, 8.54),
    ("pra", 50.08, 14.44),
    ("lis", 38.72, -9.14),
    ("dub", 53.35, -6.26),
    ("hel", 60.17, 24.94),
    ("ath", 37.98, 23.73),
    ("bud", 47.50, 19.04),
]


def lms() -> list[Landmark]:
    return [Landmark(i, lat, lon) for i, lat, lon in CITIES]


def rtt_for(lat: float, lon: float, lm: Landmark, inflation: float = 2.0, base: float = 1.0) -> float:
    return float(distance_km(lat, lon, lm.lat, lm.lon)) / KM_PER_MS * inflation + base


def mesh(inflation: float = 2.0) -> list[MeshLink]:
    ls = lms()
    return [
        MeshLink(a.id, b.id, rtt_for(a.lat, a.lon, b, inflation))
        for i, a in enumerate(ls)
        for b in ls[i + 1 :]
    ]


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    countries = load_countries()
    model = calibrate(lms(), mesh(), countries=countries)
    return Verifier(lms(), countries, model=model)


def test_result_json_has_the_contract_fields(verifier: Verifier) -> None:
    rtts = {lm.id: rtt_for(50.94, 6.96, lm) for lm in lms()}  # Cologne
    results = verifier.verify(rtts, [Claim.point("c1", "cgn", 50.94, 6.96), Claim.country("c2", "cgn", "DE")])
    for r in results:
        doc = json.loads(json.dumps(r.to_json()))
        assert {"claim", "target", "verdict", "suspicious", "estimate", "evidence"} <= set(doc)
        assert set(doc["estimate"]) == {"lat", "lon", "radius_km", "country", "country_p"}
        assert doc["evidence"]["tightest"][0]["landmark"] in {"ams", "par", "zur"}
    est = results[0].estimate
    assert est.lat is not None and est.lon is not None
    assert float(distance_km(est.lat, est.lon, 50.94, 6.96)) < 400
    assert est.country == "DE"
    assert results[0].verdict == "consistent"
    assert results[1].verdict in {"consistent", "proven"}


def test_false_claims_are_caught_with_evidence(verifier: Verifier) -> None:
    rtts = {lm.id: rtt_for(50.94, 6.96, lm) for lm in lms()}
    r_point, r_country = verifier.verify(
        rtts, [Claim.point("tokyo", "cgn", 35.68, 139.69), Claim.country("br", "cgn", "BR")]
    )
    assert r_point.verdict == "violation" and r_point.suspicious
    first = r_point.evidence["contradicting"][0]
    assert first["distance_km"] > first["bound_km"]
    assert r_country.verdict == "violation"
    assert r_country.evidence["contradicting_count"] >= 2


def test_region_claims_and_geojson(verifier: Verifier) -> None:
    rtts = {lm.id: rtt_for(48.86, 2.35, lm, inflation=1.2, base=0.2) for lm in lms()}
    big = {"type": "Polygon", "coordinates": [[[-30, 20], [60, 20], [60, 75], [-30, 75], [-30, 20]]]}
    far = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[100, -40], [150, -40], [150, -10], [100, -40]]]},
    }
    res = verifier.verify(
        rtts, [Claim.in_region("eu", "p", big, "europe"), Claim.in_region("au", "p", far, "aus")]
    )
    assert [r.verdict for r in res] == ["proven", "violation"]
    region = verifier.region(rtts)
    gj = region.to_geojson()
    assert gj["type"] == "MultiPolygon" and gj["coordinates"]
    lat, lon = region.grid.center_latlon(region.cells)
    assert np.all(distance_km(lat, lon, 48.86, 2.35) < 2500)


def test_unknown_with_too_few_measurements(verifier: Verifier) -> None:
    [r] = verifier.verify({"par": 3.0, "nowhere": 1.0}, [Claim.point("x", "t", 0.0, 0.0)])
    assert r.verdict == "unknown" and not r.suspicious
    [r0] = verifier.verify({}, [], target="silent")
    assert r0.verdict is None and r0.estimate.lat is None


def test_delay_model_round_trip_and_fit() -> None:
    model = calibrate(lms(), mesh(), countries=load_countries())
    again = DelayModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again == model
    assert set(model.offsets_ms) == {c[0] for c in CITIES}
    assert model.lr_threshold > 0
    with pytest.raises(ValueError):
        DelayModel.fit([1.0, 2.0], [0.5, 0.5])
    with pytest.raises(ValueError):
        DelayModel.from_json({"format": 99})


def test_batch_matches_single(verifier: Verifier) -> None:
    pts = [(50.94, 6.96), (45.46, 9.19), (55.68, 12.57)]
    rows = np.array([[rtt_for(a, b, lm) for lm in verifier.landmarks.landmarks] for a, b in pts])
    claims = [(i, Claim.point(f"c{i}", f"t{i}", *p)) for i, p in enumerate(pts)]
    batch = verifier.verify_matrix([f"t{i}" for i in range(3)], rows, claims)
    for i, (a, b) in enumerate(pts):
        [single] = verifier.verify(
            {lm.id: rows[i, j] for j, lm in enumerate(verifier.landmarks.landmarks)},
            [Claim.point(f"c{i}", f"t{i}", a, b)],
        )
        assert single.to_json() == batch[i].to_json()
