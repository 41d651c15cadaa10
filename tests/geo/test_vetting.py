"""Vetting's tie-break: of a single conflicting pair, the landmark whose position is tight elsewhere goes."""

from __future__ import annotations

from fleetproof.geo import Landmark, MeshLink, SpeedModel, distance_km, vet_landmarks

KM_PER_MS = SpeedModel().v_max_km_per_ms / 2

# Honest landmarks around central Europe: (id, lat, lon).
HONEST = [
    ("amsterdam", 52.37, 4.90),
    ("berlin", 52.52, 13.40),
    ("london", 51.51, -0.13),
    ("milan", 45.46, 9.19),
    ("prague", 50.08, 14.42),
    ("vienna", 48.21, 16.37),
]
ACTUAL = {"a-advertised-paris": (50.11, 8.68), "b-frankfurt": (50.11, 8.68)}  # both really in Frankfurt
ADVERTISED = {"a-advertised-paris": (48.86, 2.35), "b-frankfurt": (50.11, 8.68)}


def _mesh() -> list[MeshLink]:
    where = {i: (lat, lon) for i, lat, lon in HONEST} | ACTUAL
    ids = sorted(where)
    links = []
    for x, a in enumerate(ids):
        for b in ids[x + 1 :]:
            d = float(distance_km(*where[a], *where[b]))
            links.append(MeshLink(a, b, d / KM_PER_MS * 2.2 + 0.5))  # routes with plenty of slack
    return links


def test_a_single_conflict_quarantines_the_landmark_that_is_tight_elsewhere() -> None:
    lms = [Landmark(i, lat, lon) for i, lat, lon in HONEST]
    lms += [Landmark(i, *ADVERTISED[i]) for i in sorted(ADVERTISED)]
    rep = vet_landmarks(lms, _mesh())
    # One conflict only: the pair answers in 0.5 ms but is advertised 480 km apart.
    assert [(c.a, c.b) for c in rep.conflicts] == [("a-advertised-paris", "b-frankfurt")]
    # The count cannot decide; the id order alone would pick "b-frankfurt". Tightness picks the liar:
    # advertised in Paris, it answers its eastern neighbours faster than Paris could.
    assert [q.id for q in rep.quarantined] == ["a-advertised-paris"]
    assert "b-frankfurt" in rep.trusted


def test_the_tie_break_does_not_depend_on_the_order_of_the_list() -> None:
    lms = [Landmark(i, *ADVERTISED[i]) for i in sorted(ADVERTISED, reverse=True)]
    lms += [Landmark(i, lat, lon) for i, lat, lon in reversed(HONEST)]
    assert [q.id for q in vet_landmarks(lms, _mesh()).quarantined] == ["a-advertised-paris"]
