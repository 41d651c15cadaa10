from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fleetproof.agent.checks.registry import create_all
from fleetproof.agent.collectors.base import DeviceInfo
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.inventory import diff_inventory, load_inventory, save_inventory
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.runner import Agent


def _info(index: int, uuid: str, **kw: object) -> DeviceInfo:
    fields: dict[str, object] = {"driver_version": "550.90.07", **kw}
    return DeviceInfo(index, "nvidia", "NVIDIA H100 80GB HBM3", uuid, **fields)  # type: ignore[arg-type]


def test_diff_added_removed_swapped_changed() -> None:
    old = [_info(0, "GPU-a"), _info(1, "GPU-b"), _info(2, "GPU-c")]
    new = [_info(0, "GPU-a", driver_version="560.35.03"), _info(1, "GPU-x"), _info(3, "GPU-d")]
    changes = {(c.kind, c.index) for c in diff_inventory(old, new)}
    assert changes == {("changed", 0), ("swapped", 1), ("removed", 2), ("added", 3)}
    changed = next(c for c in diff_inventory(old, new) if c.kind == "changed")
    assert "560.35.03" in changed.describe()
    swapped = next(c for c in diff_inventory(old, new) if c.kind == "swapped")
    assert swapped.old_uuid == "GPU-b" and swapped.uuid == "GPU-x"
    assert diff_inventory(old, old) == []


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    devices = [_info(0, "GPU-a", serial="1652423017452", memory_total_bytes=85520809984)]
    path = tmp_path / "state" / "inventory.json"
    save_inventory(path, devices)
    assert load_inventory(path) == devices
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    path.write_text("{broken")
    assert load_inventory(path) == []


def test_device_gone_while_agent_was_stopped_is_noticed(tmp_path: Path) -> None:
    inv_path = tmp_path / "inventory.json"

    def agent(devices: int) -> Agent:
        return Agent(
            collectors=[SimulatedCollector(devices=devices, clock=lambda: 0.0)],
            components=create_all(),
            outbox=Outbox(tmp_path / "o.db"),
            hostname="h",
            baseline=load_inventory(inv_path),
            inventory_path=inv_path,
            clock=lambda: 0.0,
        )

    first = agent(4)
    assert first.state.overall() == "initializing"
    first.round()
    assert first.state.overall() == "healthy"
    first.close()
    second = agent(3)  # device 3 gone after a restart
    results = second.round()
    missing = [r for r in results if r.component == "missing_devices"]
    assert [(r.state, r.device_index) for r in missing] == [("unhealthy", 3)]
    events = [i.payload for i in second.outbox.peek(100) if i.kind == "health"]  # type: ignore[union-attr]
    assert any(e["component"] == "inventory" and "removed" in e["reason"] for e in events)
    assert len(load_inventory(inv_path)) == 4  # a removal stays known until the operator clears it


def test_swap_produces_an_inventory_event_and_a_new_baseline(tmp_path: Path) -> None:
    sim = SimulatedCollector(devices=2, clock=lambda: 0.0)
    agent = Agent(collectors=[sim], components=create_all(), outbox=Outbox(tmp_path / "o.db"), hostname="h")
    agent.round()
    original = sim.info

    def swapped(index: int) -> DeviceInfo:
        info = original(index)
        return replace(info, uuid="GPU-replacement", serial="NEW") if index == 1 else info

    sim.info = swapped  # type: ignore[method-assign]
    results = agent.round()
    assert all(r.state == "healthy" for r in results if r.component == "missing_devices")
    events = [i.payload for i in agent.outbox.peek(100) if i.kind == "health"]  # type: ignore[union-attr]
    swaps = [e for e in events if e["component"] == "inventory"]
    assert len(swaps) == 1 and "swapped" in swaps[0]["reason"] and swaps[0]["state"] == "degraded"
    inventories = [i for i in agent.outbox.peek(100) if i.kind == "inventory"]  # type: ignore[union-attr]
    assert len(inventories) == 2  # first round, and the change
