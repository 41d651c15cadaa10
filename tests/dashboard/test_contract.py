"""The shape checker that store backends use to prove they answer as the dashboard expects."""

from __future__ import annotations

import copy
from typing import Any

from fleetproof.server.dashboard.contract import problems, source_problems
from fleetproof.server.dashboard.source import HostDetail, HostItem, Landmark, Summary


def test_the_in_memory_fleet_conforms(source: Any) -> None:
    violator = next(h for h in source.items if h["verdict"] == "violation")
    assert source_problems(source, violator["id"]) == []


def test_departures_are_named_by_path(source: Any) -> None:
    item = copy.deepcopy(source.items[0])
    assert problems(item, HostItem) == []
    item["estimate"]["radius_km"] = "far"
    del item["hostname"]
    item["verdict"] = "lost"
    item["rack"] = "r12"  # extra keys are fine: the dashboard ignores them
    found = problems(item, HostItem)
    assert "$.hostname: missing" in found
    assert any(p.startswith("$.verdict: 'lost' matches none of") for p in found)
    assert any(p.startswith("$.estimate: ") for p in found)
    assert len(found) == 3


def test_nested_lists_and_counts(source: Any) -> None:
    summary = source.summary()
    assert problems(summary, Summary) == []
    summary["hosts_by_zone"]["eu-west"] = 3.5
    assert problems(summary, Summary) == ["$.hosts_by_zone.eu-west: expected int, got 3.5"]
    detail = source.host(source.items[0]["id"])
    detail["health_components"].append({"component": "xid"})
    found = problems(detail, HostDetail)
    assert "$.health_components[3].state: missing" in found
    landmark = source.landmarks()[0]
    landmark["mesh"] = {}  # before the first mesh round
    assert problems(landmark, Landmark) == []
    assert problems(True, int) and problems(1, float) == [] and problems(None, float)
