from __future__ import annotations

from typing import Any

import pytest

from fleetproof.agent.checks import base as checks
from fleetproof.agent.checks import registry
from fleetproof.agent.checks.collection import CollectionErrors
from fleetproof.agent.checks.ecc import EccHealth
from fleetproof.agent.checks.host_pressure import HostPressure
from fleetproof.agent.checks.missing_devices import MissingDevices
from fleetproof.agent.checks.persistence import PersistenceMode
from fleetproof.agent.checks.throttling import Throttling
from fleetproof.agent.checks.vendor_health import VendorHealth
from fleetproof.agent.checks.xid import XidErrors
from fleetproof.agent.checks.xid_catalog import XID_CATALOG, describe
from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, Snapshot, XidEvent
from fleetproof.agent.collectors.simulated import SimulatedCollector


def _dev(index: int = 0, **kw: Any) -> DeviceReading:
    info = DeviceInfo(index, "nvidia", "NVIDIA H100 80GB HBM3", f"GPU-{index:04d}")
    return DeviceReading(info=info, **kw)


def _ctx(*devices: DeviceReading, time: float = 1000.0, **kw: Any) -> checks.CheckContext:
    return checks.CheckContext(time, [Snapshot("nvidia", time, list(devices))], **kw)


def _states(results: list[checks.HealthResult]) -> list[tuple[str, int | None]]:
    return [(r.state, r.device_index) for r in results]


def test_registry_lists_builtins_and_rejects_duplicates() -> None:
    names = set(registry.registered())
    expected = {
        "xid",
        "ecc",
        "throttling",
        "missing_devices",
        "persistence_mode",
        "collection",
        "host_pressure",
    }
    assert expected | {"vendor_health"} == names
    with pytest.raises(ValueError, match="already registered"):
        registry.register("xid", XidErrors)
    assert "xid" not in {c.name for c in registry.create_all(["xid"])}


def test_healthy_components_say_so() -> None:
    for comp in registry.create_all():
        (result,) = comp.check(_ctx(_dev(persistence_mode=True)))
        assert result.state == "healthy" and result.reason


def test_worst_state_order() -> None:
    assert checks.worst(["healthy", "degraded", "initializing"]) == "degraded"
    assert checks.worst(["degraded", "unhealthy"]) == "unhealthy"
    assert checks.worst([]) == "healthy"


# -- Xid -------------------------------------------------------------------------


def test_xid_catalog_severities() -> None:
    assert describe(79).severity == "critical" and "reboot" in describe(79).action.lower()
    assert describe(48).severity == "critical" and describe(94).severity == "info"
    assert describe(13).severity == "info"
    assert describe(424242).severity == "warning"
    assert all(info.code == code and info.action for code, info in XID_CATALOG.items())


@pytest.mark.parametrize(
    ("code", "state"), [(79, "unhealthy"), (48, "unhealthy"), (142, "degraded"), (999, "degraded")]
)
def test_xid_sets_state_by_severity(code: int, state: str) -> None:
    comp = XidErrors()
    (r,) = comp.check(_ctx(_dev(1, xid_events=[XidEvent(code, 1000.0)])))
    assert (r.state, r.device_index) == (state, 1)
    assert f"Xid {code}" in r.reason and r.suggested_action


def test_application_xids_do_not_change_health() -> None:
    (r,) = XidErrors().check(_ctx(_dev(xid_events=[XidEvent(13, 1000.0), XidEvent(43, 1000.0)])))
    assert r.state == "healthy"


def test_xid_is_remembered_for_the_window_then_forgotten() -> None:
    comp = XidErrors()
    comp.check(_ctx(_dev(xid_events=[XidEvent(79, 1000.0)]), thresholds={"xid_window_s": 600}))
    assert comp.check(_ctx(_dev(), time=1500.0, thresholds={"xid_window_s": 600}))[0].state == "unhealthy"
    assert comp.check(_ctx(_dev(), time=1601.0, thresholds={"xid_window_s": 600}))[0].state == "healthy"


def test_worst_xid_wins() -> None:
    events = [XidEvent(142, 1000.0), XidEvent(48, 1000.0), XidEvent(13, 1000.0)]
    (r,) = XidErrors().check(_ctx(_dev(xid_events=events)))
    assert r.state == "unhealthy" and r.reason.startswith("Xid 48") and "13, 48, 142" in r.reason


# -- ECC ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metrics", "state", "words"),
    [
        ({"ecc_volatile_uncorrected_total": 2}, "unhealthy", "uncorrectable"),
        ({"remapped_rows_failure": 1}, "unhealthy", "remapping failed"),
        ({"remapped_rows_pending": 1}, "degraded", "pending"),
        ({"retired_pages_sbe": 40, "retired_pages_dbe": 20}, "unhealthy", "retired"),
        ({"retired_pages_sbe": 3, "ecc_volatile_corrected_total": 12}, "healthy", "no uncorrectable"),
    ],
)
def test_ecc_conditions(metrics: dict[str, float], state: str, words: str) -> None:
    (r,) = EccHealth().check(_ctx(_dev(metrics=metrics)))
    assert r.state == state and words in r.reason


def test_ecc_storm_is_a_rate() -> None:
    comp = EccHealth()
    comp.check(_ctx(_dev(metrics={"ecc_volatile_corrected_total": 100}), time=0.0))
    slow = comp.check(_ctx(_dev(metrics={"ecc_volatile_corrected_total": 150}), time=60.0))
    assert slow[0].state == "healthy"
    storm = comp.check(_ctx(_dev(metrics={"ecc_volatile_corrected_total": 5150}), time=120.0))
    assert storm[0].state == "degraded" and "storm" in storm[0].reason


def test_ecc_storm_from_the_simulator() -> None:
    now = [0.0]
    sim = SimulatedCollector(devices=2, faults="ecc_storm@1", clock=lambda: now[0])
    comp = EccHealth()
    for t in (0.0, 10.0):
        now[0] = t
        results = comp.check(checks.CheckContext(t, [sim.collect()]))
    assert _states(results) == [("degraded", 1)]


# -- throttling, missing, persistence, collection, vendor, host ---------------------------------


def test_thermal_and_power_throttling() -> None:
    hot = _dev(0, throttle_reasons=frozenset({"hw_thermal_slowdown"}), metrics={"temperature_c": 91.0})
    braked = _dev(
        1,
        throttle_reasons=frozenset({"hw_power_brake_slowdown"}),
        metrics={"power_w": 410.0, "power_limit_w": 700},
    )
    warm = _dev(2, metrics={"temperature_c": 88.0})
    fine = _dev(3, metrics={"temperature_c": 60.0})
    results = Throttling().check(_ctx(hot, braked, warm, fine))
    assert _states(results) == [("degraded", 0), ("degraded", 1), ("degraded", 2)]
    assert "cooling" in (results[0].suggested_action or "").lower()
    assert "hw_power_brake_slowdown" in results[1].reason and "410 W of 700 W" in results[1].reason


def test_power_cap_under_full_load_is_healthy() -> None:
    """As an H200 read under a bf16 matrix-multiply load (docs/hardware-runs.md): at its cap, by design."""
    busy = _dev(
        0,
        throttle_reasons=frozenset({"sw_power_cap"}),
        metrics={"power_w": 688.6, "power_limit_w": 700.0, "temperature_c": 57.0, "utilization_percent": 100},
    )
    [r] = Throttling().check(_ctx(busy, _dev(1, metrics={"temperature_c": 40.0})))
    assert r.state == "healthy" and "1 at its power cap" in r.reason


def test_missing_device_against_inventory_and_lost_device() -> None:
    known = [_dev(i).info for i in range(3)]
    results = MissingDevices().check(_ctx(_dev(0), _dev(1, lost=True), baseline=known))
    assert _states(results) == [("unhealthy", 1), ("unhealthy", 2)]
    assert "fell off the bus" in results[0].reason and "missing" in results[1].reason
    assert MissingDevices().check(_ctx(*[_dev(i) for i in range(3)], baseline=known))[0].state == "healthy"


def test_persistence_mode() -> None:
    results = PersistenceMode().check(_ctx(_dev(0, persistence_mode=False), _dev(1, persistence_mode=None)))
    assert _states(results) == [("degraded", 0)]
    assert "never changes" in (results[0].suggested_action or "")


def test_collection_errors() -> None:
    ctx = checks.CheckContext(
        0.0,
        [
            Snapshot("amd", 0.0, error="AmdSmiLibraryException: init failed"),
            Snapshot("nvidia", 0.0, [_dev(errors=["x"])]),
        ],
    )
    assert _states(CollectionErrors().check(ctx)) == [("unhealthy", None), ("degraded", 0)]


def test_vendor_health_verdicts() -> None:
    devs = [_dev(0, vendor_health="OK"), _dev(1, vendor_health="Warning"), _dev(2, vendor_health="Alarm")]
    assert _states(VendorHealth().check(_ctx(*devs))) == [("degraded", 1), ("unhealthy", 2)]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ({"memory_used_percent": 50.0, "disk_used_percent[/]": 40.0}, ["healthy"]),
        ({"memory_used_percent": 92.0, "disk_used_percent[/]": 40.0}, ["degraded"]),
        ({"memory_used_percent": 50.0, "disk_used_percent[/var]": 98.5}, ["unhealthy"]),
        ({"memory_used_percent": 97.5, "disk_used_percent[/]": 91.0}, ["unhealthy", "degraded"]),
    ],
)
def test_host_pressure(host: dict[str, float], expected: list[str]) -> None:
    ctx = checks.CheckContext(0.0, [Snapshot("system", 0.0, host_metrics=host)])
    assert [r.state for r in HostPressure().check(ctx)] == expected


def test_host_pressure_thresholds_come_from_settings() -> None:
    ctx = checks.CheckContext(
        0.0,
        [Snapshot("system", 0.0, host_metrics={"disk_used_percent[/]": 80.0})],
        thresholds={"disk_degraded_percent": 75},
    )
    assert HostPressure().check(ctx)[0].state == "degraded"


def test_docstring_examples() -> None:
    import doctest

    import fleetproof.agent.checks.xid_catalog as catalog
    import fleetproof.agent.collectors.nvidia as nvidia

    for module in (catalog, nvidia):
        assert doctest.testmod(module).failed == 0
