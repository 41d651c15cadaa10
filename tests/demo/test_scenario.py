from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetproof.demo.scenario import load_scenario
from fleetproof.errors import InputError


def test_bundled_scenario_shows_the_point() -> None:
    scenario = load_scenario()
    assert len(scenario.hosts) >= 12
    assert len({(round(lm.lat), round(lm.lon)) for lm in scenario.landmarks}) == len(scenario.landmarks)
    assert any(host.faults for host in scenario.hosts)
    # One host sits far outside its zone: Singapore is not in eu-central.
    relocated = [h for h in scenario.hosts if h.zone == "eu-central" and h.actual.lat < 10]
    assert len(relocated) == 1
    # One landmark answers from far away from where it is advertised.
    mislocated = [lm for lm in scenario.landmarks if lm.actual is not None]
    assert [lm.id for lm in mislocated] == ["lm-saopaulo"]
    assert mislocated[0].where.lat > 45


def test_landmark_answers_from_where_it_is_advertised_by_default() -> None:
    lm = load_scenario().landmarks[0]
    assert lm.actual is None and (lm.where.lat, lm.where.lon) == (lm.lat, lm.lon)


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def _minimal() -> dict[str, list[dict[str, object]]]:
    return {
        "landmarks": [{"id": f"l{i}", "lat": 10.0 * i, "lon": 5.0 * i} for i in range(3)],
        "zones": [{"id": "z", "allowed_countries": ["DE"]}],
        "hosts": [{"id": "h", "zone": "z", "actual": {"lat": 50, "lon": 8}}],
    }


def test_minimal_scenario_gets_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, _minimal()))
    assert scenario.hosts[0].accelerators == 8
    assert scenario.hosts[0].vendor == "nvidia"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["hosts"][0].update(zone="nowhere"), "unknown zone 'nowhere'"),
        (lambda d: d["landmarks"].append(dict(d["landmarks"][0])), "duplicate landmark id 'l0'"),
        (lambda d: d["hosts"][0]["actual"].update(lat=95), "hosts.0.actual.lat"),
        (lambda d: d["zones"][0].update(allowed_countries=["Germany"]), "not an ISO 3166 alpha-2 code"),
        (lambda d: d["zones"][0].update(lat=1.0), "both lat and lon"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d.update(landmarks=d["landmarks"][:2]), "landmarks"),
    ],
)
def test_bad_scenarios_are_located(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _minimal()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(InputError) as exc:
        load_scenario(path)
    assert str(path) in str(exc.value)
    assert message in str(exc.value)


def test_json_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "landmarks": [\n    {"id": "a",,}\n  ]\n}\n')
    with pytest.raises(InputError) as exc:
        load_scenario(path)
    assert exc.value.line == 3


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_scenario(tmp_path / "absent.json")
