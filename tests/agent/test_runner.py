from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from fleetproof.agent.checks.base import CheckContext, HealthResult
from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors.base import DeviceInfo
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.runner import Agent
from fleetproof.protocol.wire import HealthEvent, InventoryReport, TelemetryReport


def _health(box: Outbox) -> list[dict[str, Any]]:
    return [i.payload for i in box.peek(10_000) if i.kind == "health"]


def test_health_events_only_on_change_and_on_recovery(tmp_path: Path) -> None:
    now = [0.0]
    sim = SimulatedCollector(devices=2, faults="xid142@1+10", clock=lambda: now[0])
    box = Outbox(tmp_path / "o.db")
    agent = Agent(
        collectors=[sim],
        components=create_all(),
        outbox=box,
        hostname="h",
        thresholds={"xid_window_s": 30},
        clock=lambda: now[0],
    )
    agent.round()
    first = len(_health(box))
    assert first == len(create_all())  # every component's first verdict
    agent.round()
    assert len(_health(box)) == first  # nothing changed: no new events
    now[0] = 10.0
    agent.round()
    degraded = _health(box)[first:]
    assert [(e["component"], e["state"], e["device_uuid"]) for e in degraded] == [
        ("xid", "degraded", sim.info(1).uuid)
    ]
    now[0] = 45.0  # past the 30 s window
    agent.round()
    recovered = [(e["component"], e["state"], e["device_uuid"]) for e in _health(box)[first + 1 :]]
    assert ("xid", "healthy", sim.info(1).uuid) in recovered  # the device's condition cleared
    assert all(HealthEvent.model_validate(e) for e in _health(box))


def test_a_failing_component_does_not_stop_the_round(tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def check(self, ctx: CheckContext) -> list[HealthResult]:
            raise RuntimeError("bug in a plugin")

    agent = Agent(
        collectors=[SimulatedCollector(devices=1)],
        components=[Broken()],
        outbox=Outbox(tmp_path / "o.db"),
        hostname="h",
    )
    (result,) = agent.round()
    assert result.state == "unhealthy" and "bug in a plugin" in result.reason
    assert agent.state.rounds == 1


def test_odd_vendor_strings_are_clipped_to_the_wire_limits(tmp_path: Path) -> None:
    sim = SimulatedCollector(devices=1)
    base_info = sim.info

    def odd(index: int) -> DeviceInfo:
        return replace(base_info(index), model="M" * 300, firmware_version="F" * 500, bus_id="B" * 100)

    sim.info = odd  # type: ignore[method-assign]
    box = Outbox(tmp_path / "o.db")
    agent = Agent(collectors=[sim], components=create_all(), outbox=box, hostname="h")
    agent.round()
    inventory = next(i.payload for i in box.peek() if i.kind == "inventory")
    acc = InventoryReport.model_validate(inventory).accelerators[0]
    assert len(acc.model) == 128 and len(acc.firmware_version or "") == 128 and len(acc.bus_id or "") == 64
    telemetry = next(i.payload for i in box.peek() if i.kind == "telemetry")
    assert len(TelemetryReport.model_validate(telemetry).accelerators[0].model) == 128


def test_lost_devices_are_left_out_of_telemetry(tmp_path: Path) -> None:
    agent = Agent(
        collectors=[SimulatedCollector(devices=3, faults="off_bus@1")],
        components=create_all(),
        outbox=None,
        hostname="h",
    )
    agent.round()
    assert agent.state.telemetry is not None and agent.state.inventory is not None
    assert [a.index for a in agent.state.telemetry.accelerators] == [0, 2]
    assert len(agent.state.inventory.accelerators) == 3
    assert agent.state.overall() == "unhealthy"


def test_several_host_results_of_one_component_are_kept_apart(tmp_path: Path) -> None:
    from fleetproof.agent.collectors.base import Snapshot
    from fleetproof.agent.export.prometheus import render

    class FullHost:
        name = "system"
        percent = 99.0

        def available(self) -> bool:
            return True

        def close(self) -> None:
            return None

        def collect(self) -> Snapshot:
            host = {"memory_used_percent": self.percent, "disk_used_percent[/]": self.percent}
            return Snapshot("system", 0.0, host_metrics=host)

    full = FullHost()
    box = Outbox(tmp_path / "o.db")
    agent = Agent(collectors=[full], components=create_all(), outbox=box, hostname="h")
    agent.round()
    events = [
        (e["component"], e["state"], e["reason"]) for e in _health(box) if e["component"] == "host_pressure"
    ]
    assert sorted(events) == [
        ("host_pressure", "unhealthy", "disk / is 99.0 % used"),
        ("host_pressure", "unhealthy", "memory is 99.0 % used"),
    ]
    text = render(agent.state, "h")
    for subject in ("memory", "disk /"):
        assert (
            f'fleetproof_health_status{{component="host_pressure",hostname="h",state="unhealthy",'
            f'subject="{subject}",uuid=""}} 1.0'
        ) in text
    full.percent = 50.0
    agent.round()
    cleared = [e["reason"] for e in _health(box) if e["component"] == "host_pressure"][2:]
    assert sorted(cleared) == [
        "disk /: condition cleared",
        "disk and memory use below limits",
        "memory: condition cleared",
    ]
