"""The agent–server contract in fleetproof.protocol: self-contained, and the one source of its lists."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from fleetproof.protocol import health, items
from fleetproof.protocol.wire import HealthEvent

PROTOCOL = Path(__file__).resolve().parents[1] / "src" / "fleetproof" / "protocol"


def test_protocol_imports_neither_side() -> None:
    for path in sorted(PROTOCOL.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: relative import"
                names = [node.module or ""]
            for name in names:
                if name.startswith("fleetproof."):
                    assert name.startswith("fleetproof.protocol."), f"{path.name} imports {name}"


def test_every_kind_has_a_typed_item_and_no_other() -> None:
    typed = items.TypedBatch.model_fields["items"].annotation
    (union,) = get_args(typed)
    classes = get_args(get_args(union)[0])
    kinds = {get_args(c.model_fields["kind"].annotation)[0] for c in classes}
    assert kinds == set(items.ITEM_KINDS) == {"telemetry", "inventory", "health", "probe_record"}
    assert set(items.PAYLOAD_MODELS) == set(items.ITEM_KINDS) - {"probe_record"}


def _event(state: str) -> dict[str, object]:
    return HealthEvent(time=1.0, component="xid", state=state, reason="r").model_dump(mode="json")


def test_parse_batch_keeps_good_items_when_one_is_bad() -> None:
    good = {"id": "a", "kind": "health", "created_at": 1.0, "payload": _event("degraded")}
    bad = {"id": "b", "kind": "health", "created_at": 1.0, "payload": {"state": "on fire"}}
    fast = items.parse_batch(json.dumps({"items": [good]}).encode())
    assert isinstance(fast[0].payload, HealthEvent)
    slow = items.parse_batch(json.dumps({"items": [good, bad]}).encode())
    assert [i.id for i in slow] == ["a", "b"] and isinstance(slow[1].payload, dict)
    with pytest.raises(ValidationError):
        items.parse_batch(json.dumps({"items": [{**good, "kind": "gossip"}]}).encode())


def test_the_health_order() -> None:
    assert list(health.STATE_ORDER) == list(health.HEALTH_STATES)
    assert set(get_args(health.HealthState)) == set(health.HEALTH_STATES)
    assert health.worst(["healthy", "unhealthy", "degraded"]) == "unhealthy"
    assert health.worst(["healthy", "initializing"]) == "initializing"
    assert health.worst([]) == "healthy"
    assert health.worst([], default="initializing") == "initializing"


def test_the_agent_takes_its_kinds_and_order_from_the_protocol() -> None:
    """The agent spells neither the item kinds nor the health order itself: it imports them."""
    from fleetproof.agent import transport
    from fleetproof.agent.checks import base

    assert transport.ItemKind is items.ItemKind
    assert base.STATE_ORDER is health.STATE_ORDER
