"""The planner's promise through the server: sites ``fleetproof plan`` calls provable come out
``proven`` from the server's own pipeline, and hosts moved out of their zone never do.

The fleet, the plan and the server are those of ``benchmarks/plan_fleet_e2e.py`` (its figures at
1,000 sites are in docs/benchmarks.md), made small: one site in each of 24 countries, the planner's
CLI run in this process, the server's context and app on a SQLite store fed signed records through
its HTTP API, and its verdict pipeline run on a fake clock.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SITES = 24


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "plan_fleet_e2e.py"
    spec = importlib.util.spec_from_file_location("plan_fleet_e2e", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("plan_fleet_e2e", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _bench()


@pytest.fixture(scope="module")
def small_jitter(bench: ModuleType) -> dict[str, Any]:
    return dict(bench.run(bench.Options(SITES, seed=3, jitter_ms=0.02, workers=1)))


def test_provable_sites_are_proven_by_the_server(bench: ModuleType, small_jitter: dict[str, Any]) -> None:
    r = small_jitter
    assert r["countries"] >= 20
    # Not vacuous: the plan must promise a fair share of the fleet, much of it proven by two landmarks
    # it added in the site's metro.
    assert r["provable_per_plan"] >= 8, r["plan_text"]
    assert r["proved_by_two_added_in_metro"] >= r["provable_per_plan"] // 2
    assert r["proven_per_server_of_those"] == r["proved_by_two_added_in_metro"]
    assert r["ratio"] >= 0.95, r["mismatches"]
    # Each host measured its site's `measure` list from plan.json, which names every proof landmark.
    assert r["mismatch_reasons"].get(bench.REASON_UNMEASURED, 0) == 0
    assert r["records"] >= 3 * r["devices"]  # at least the engine's three per host


def test_moved_hosts_are_never_proven(small_jitter: dict[str, Any]) -> None:
    r = small_jitter
    assert r["moved_hosts"] == r["provable_per_plan"]
    assert r["false_proven"] == 0, r["false_proven_hosts"]
    assert "proven" not in r["moved_verdicts"]


def test_rtts_beyond_the_budget_are_caught_and_explained(bench: ModuleType) -> None:
    """Jitter of up to 3 ms per sample exceeds most proof budgets: the server must stop proving those
    sites, and each miss must be put down to the budgets — one exceeded, or several proof landmarks
    raised at once (a budget holds the others at their modelled RTT) — the comparison can fail, and
    says why."""
    r = bench.run(bench.Options(SITES, seed=3, jitter_ms=3.0, workers=1))
    assert r["provable_per_plan"] >= 8
    assert r["proven_per_server"] < r["provable_per_plan"]
    assert r["false_proven"] == 0
    for m in r["mismatches"]:
        assert m["reason"] in (bench.REASON_OVER_BUDGET, bench.REASON_JOINT), m
        assert m["verdict"] != "proven"


def test_planned_ids_are_mapped_to_the_servers_pattern(bench: ModuleType) -> None:
    import re

    from fleetproof.geo import Landmark
    from fleetproof.plan.core import _instance_ids
    from fleetproof.server.admin import ID_PATTERN

    names = _instance_ids([Landmark("tokyo-jp", 35.7, 139.7)], 2, {"tokyo-jp.1"})
    assert names == [["tokyo-jp.1_", "tokyo-jp.2"]]
    for planned in names[0]:
        assert re.fullmatch(ID_PATTERN, bench.server_id(planned)), planned
