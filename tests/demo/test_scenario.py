from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from fleetproof.agent.collectors.simulated import SIMULATED_MODELS
from fleetproof.demo.scenario import Network, load_scenario, one_way_ms
from fleetproof.errors import InputError
from fleetproof.probe.netem import great_circle_km
from fleetproof.server.engine import GeoVerifier
from fleetproof.server.pipeline import LandmarkInput, Round, ZonePolicy


def test_bundled_scenario_shows_the_point() -> None:
    scenario = load_scenario()
    assert len(scenario.hosts) >= 12
    # Landmarks stand apart, except the pairs a few km apart in a metro, which are what proves a host.
    metros = Counter((round(lm.lat), round(lm.lon)) for lm in scenario.landmarks)
    assert sorted(metros.values(), reverse=True)[:3] == [2, 2, 1]
    assert len({h.vendor for h in scenario.hosts} & set(SIMULATED_MODELS)) >= 3
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
    # Without a network the emulation is what it always was: 0.5 ms at the ends, × 1.5, up to 1 ms jitter.
    assert scenario.network == Network(access_ms=0.25, inflation=1.5, jitter_ms=1.0)
    host, lm = scenario.hosts[0], scenario.landmarks[1]
    distance = great_circle_km(50, 8, 10.0, 5.0)
    assert scenario.delay_ms(host, lm) == pytest.approx(distance / 199.861639 * 1.5 + 0.5)


def test_delay_is_distance_at_two_thirds_c_inflated_plus_both_access_delays(tmp_path: Path) -> None:
    data = _minimal()
    data["network"] = {"access_ms": 0.4, "inflation": 2.0, "jitter_ms": 0.1}
    data["landmarks"][0].update(lat=50.0, lon=8.0, access_ms=0.1, actual={"lat": 51.0, "lon": 8.0})
    data["hosts"][0]["access_ms"] = 0.2
    scenario = load_scenario(_write(tmp_path, data))
    host, far, near = scenario.hosts[0], scenario.landmarks[1], scenario.landmarks[0]
    assert one_way_ms(0.0, 2.0, 0.2, 0.1) == pytest.approx(0.3)
    assert one_way_ms(299.792458, 1.0, 0.0, 0.0) == pytest.approx(1.5)  # 2/3 c: 1.5 ms for a light-ms
    # The host's own access (0.2) and the landmark's (0.1); the landmark's real place counts (111 km).
    assert scenario.delay_ms(host, near) == pytest.approx(
        great_circle_km(50, 8, 51, 8) / 199.861639 * 2 + 0.3
    )
    # A landmark without access_ms pays the network's (0.4); so does a landmark-to-landmark leg.
    assert scenario.delay_ms(host, far) == pytest.approx(great_circle_km(50, 8, 10, 5) / 199.861639 * 2 + 0.6)
    assert scenario.delay_ms(near, far) == pytest.approx(great_circle_km(51, 8, 10, 5) / 199.861639 * 2 + 0.5)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["hosts"][0].update(zone="nowhere"), "unknown zone 'nowhere'"),
        (lambda d: d["landmarks"].append(dict(d["landmarks"][0])), "duplicate landmark id 'l0'"),
        (lambda d: d["hosts"][0]["actual"].update(lat=95), "hosts.0 (h).actual.lat"),
        (lambda d: d["zones"][0].update(allowed_countries=["Germany"]), "not an ISO 3166 alpha-2 code"),
        (lambda d: d["zones"][0].update(lat=1.0), "both lat and lon"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d.update(landmarks=d["landmarks"][:2]), "landmarks"),
        (lambda d: d.update(network={"inflation": 0.5}), "network.inflation"),
        (lambda d: d.update(network={"access_ms": -1}), "network.access_ms"),
        (lambda d: d.update(network={"jitter_ms": "lots"}), "network.jitter_ms"),
        (lambda d: d.update(network={"latency_ms": 1}), "network.latency_ms"),
        (lambda d: d["landmarks"][1].update(access_ms=-0.1), "landmarks.1 (l1).access_ms"),
        (lambda d: d["hosts"][0].update(access_ms=5000), "hosts.0 (h).access_ms"),
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


#: What the demo adds on top of the scenario's delays on a busy machine (relays, scheduling), ms per RTT.
PROCESSING_ALLOWANCE_MS = 0.5


def test_bundled_scenario_outcomes_under_the_servers_engine() -> None:
    """The server's own verifier on the bundled scenario's delays, jitter at its worst: the story holds.

    Hosts next to two landmarks of their metro are proven, the host claimed in Europe but sitting in
    Singapore is a violation, and every other host is consistent. The mislocated landmark is left
    out, as vetting leaves it out.
    """
    scenario = load_scenario()
    trusted = [lm for lm in scenario.landmarks if lm.actual is None]
    verifier = GeoVerifier()
    zones = {z.id: z for z in scenario.zones}
    worst = 2 * scenario.network.jitter_ms + PROCESSING_ALLOWANCE_MS
    verdicts = {}
    for host in scenario.hosts:
        rtts = {lm.id: 2 * scenario.delay_ms(host, lm) + worst for lm in trusted}
        zone = ZonePolicy(host.zone, tuple(zones[host.zone].allowed_countries))
        landmarks = [LandmarkInput(lm.id, lm.lat, lm.lon) for lm in trusted]
        verdicts[host.id] = verifier.verify(Round(host.id, rtts, landmarks, zone)).verdict
    assert {h for h, v in verdicts.items() if v == "proven"} == {"gpu-dal-01", "gpu-del-01"}
    assert {h for h, v in verdicts.items() if v == "violation"} == {"gpu-fra-03"}
    assert {v for h, v in verdicts.items() if h not in {"gpu-dal-01", "gpu-del-01", "gpu-fra-03"}} == {
        "consistent"
    }
