"""The planning core does no I/O: it imports the engine, never files, clocks, processes or the CLI side.

The same rule and checker as the engine's (``tests/test_geo_purity.py``), plus the planner's own
modules that do I/O: its core is a function of its arguments, which is what lets the tests compare it
with the engine case by case.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

PLAN = Path(__file__).resolve().parents[2] / "src" / "fleetproof" / "plan"
CORE = ("model", "zones", "geometry", "greedy", "judge", "budget", "proofs", "core")
IO_MODULES = ("cli", "inputs", "report", "metros", "parallel")


def _checker() -> object:
    path = Path(__file__).resolve().parents[1] / "test_geo_purity.py"
    spec = importlib.util.spec_from_file_location("geo_purity_rules", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._violations


@pytest.mark.parametrize("name", CORE)
def test_planning_core_is_pure(name: str) -> None:
    path = PLAN / f"{name}.py"
    violations = _checker()(path)  # type: ignore[operator]
    text = path.read_text(encoding="utf-8")
    violations += [
        f"{name} imports fleetproof.plan.{m}" for m in IO_MODULES if f"fleetproof.plan.{m} " in text
    ]
    assert violations == []
