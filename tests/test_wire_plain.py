"""The agent's wire dataclasses (``protocol.wire_plain``) and the server's models (``protocol.wire``) agree.

The agent builds payloads without pydantic; the server validates them with pydantic. These
tests fail as soon as the two differ: in field names or order, defaults, limits, whether
``None`` is allowed, which values a limit accepts and refuses, or the JSON a payload turns into.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from fleetproof.agent.checks.base import HealthResult
from fleetproof.agent.collectors.base import DeviceInfo
from fleetproof.agent.collectors.simulated import SimulatedCollector
from fleetproof.agent.outbox import Outbox
from fleetproof.agent.runner import Agent
from fleetproof.protocol import wire, wire_plain
from fleetproof.protocol.health import HEALTH_STATES
from fleetproof.protocol.items import PAYLOAD_MODELS, parse_batch
from fleetproof.protocol.kinds import ITEM_KINDS

PLAIN_CLASSES = [
    getattr(wire_plain, name)
    for name in wire_plain.__all__
    if isinstance(getattr(wire_plain, name), type)
    and issubclass(getattr(wire_plain, name), wire_plain.WireObject)
    and getattr(wire_plain, name) is not wire_plain.WireObject
]
PAIRS = [(cls, getattr(wire, cls.__name__)) for cls in PLAIN_CLASSES]
IDS = [cls.__name__ for cls in PLAIN_CLASSES]


def test_every_server_model_has_a_plain_twin() -> None:
    models = {
        name
        for name in wire.__all__
        if isinstance(getattr(wire, name), type) and issubclass(getattr(wire, name), BaseModel)
    }
    assert {cls.__name__ for cls in PLAIN_CLASSES} == models
    assert wire_plain.WIRE_VERSION == wire.WIRE_VERSION
    assert set(PAYLOAD_MODELS.values()) <= {model for _, model in PAIRS}


# -- declarations --------------------------------------------------------------------


def _limits(info: Any) -> dict[str, Any]:
    """min_length / max_length / ge of a pydantic field; any other constraint fails the test."""
    found: dict[str, Any] = {"min_length": None, "max_length": None, "ge": None}
    for meta in info.metadata:
        if isinstance(meta, annotated_types.MinLen):
            found["min_length"] = meta.min_length
        elif isinstance(meta, annotated_types.MaxLen):
            found["max_length"] = meta.max_length
        elif isinstance(meta, annotated_types.Ge):
            found["ge"] = meta.ge
        else:
            pytest.fail(f"constraint {meta!r} has no counterpart in wire_plain's checks")
    return found


def _kind(annotation: Any) -> tuple[str, bool, Any]:
    """(wire_plain kind, None allowed, item model) of a pydantic field's annotation."""
    args = get_args(annotation)
    if get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        assert len(rest) == 1
        kind, _, item = _kind(rest[0])
        return kind, True, item
    if annotation is str:
        return "str", False, None
    if annotation is int:
        return "int", False, None
    if annotation is float:
        return "float", False, None
    if get_origin(annotation) is dict and args == (str, float):
        return "float_map", False, None
    if get_origin(annotation) is list:
        return "list", False, args[0]
    if get_origin(annotation) is Literal and args == (1,):
        return "version", False, None
    if get_origin(annotation) is Literal and set(args) == set(HEALTH_STATES):
        return "state", False, None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object", False, annotation
    pytest.fail(f"annotation {annotation!r} has no counterpart in wire_plain")


@pytest.mark.parametrize(("plain", "model"), PAIRS, ids=IDS)
def test_fields_defaults_and_limits_are_the_models(plain: Any, model: type[BaseModel]) -> None:
    fields = dataclasses.fields(plain)
    assert [f.name for f in fields] == list(model.model_fields)
    for f in fields:
        info = model.model_fields[f.name]
        where = f"{plain.__name__}.{f.name}"
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        assert has_default == (not info.is_required()), where
        if f.default is not dataclasses.MISSING:
            assert f.default == info.default, where
        if f.default_factory is not dataclasses.MISSING:
            assert info.default_factory is not None, where
            assert f.default_factory() == info.default_factory(), where  # type: ignore[call-arg]
        kind, optional, item = _kind(info.annotation)
        assert f.metadata["kind"] == kind, where
        assert f.metadata["optional"] == optional, where
        assert {k: f.metadata[k] for k in ("min_length", "max_length", "ge")} == _limits(info), where
        if item is not None:
            assert f.metadata["item"].__name__ == item.__name__, where
        assert model.model_config.get("extra") == "forbid"


# -- behaviour at every limit -----------------------------------------------------------


def _valid_json(cls: Any) -> dict[str, Any]:
    """The smallest valid payload of ``cls`` in JSON form (required fields only)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            continue
        out[f.name] = _sample(f.metadata, 1 if f.metadata["min_length"] else 0)
    return out


def _sample(meta: Any, length: int) -> Any:
    """A value of the field's kind with ``length`` characters, entries or items."""
    kind = meta["kind"]
    if kind == "str":
        return "é" * length
    if kind == "int":
        return 0 if meta["ge"] is None else int(meta["ge"])
    if kind == "float":
        return 1.5
    if kind == "float_map":
        return {f"m{i}_w": float(i) for i in range(length)}
    if kind == "list":
        return [_valid_json(meta["item"]) for _ in range(length)]
    if kind == "object":
        return _valid_json(meta["item"])
    if kind == "state":
        return "degraded"
    if kind == "version":
        return 1
    raise AssertionError(kind)


def _plain(cls: Any, data: dict[str, Any]) -> Any:
    """``data`` (JSON form) made into ``cls``, nested objects included."""
    args = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.metadata["kind"] == "object" and isinstance(value, dict):
            value = _plain(f.metadata["item"], value)
        elif f.metadata["kind"] == "list" and isinstance(value, list):
            value = [_plain(f.metadata["item"], v) if isinstance(v, dict) else v for v in value]
        args[f.name] = value
    extra = set(data) - set(args)
    if extra:
        raise TypeError(f"unexpected fields {extra}")
    return cls(**args)


def _accepted(plain: Any, model: type[BaseModel], data: dict[str, Any]) -> tuple[bool, bool]:
    try:
        built = _plain(plain, data)
        plain_ok = True
    except (ValueError, TypeError):
        plain_ok = False
    try:
        validated = model.model_validate(data)
        model_ok = True
    except ValidationError:
        model_ok = False
    if plain_ok and model_ok:
        assert built.to_dict() == validated.model_dump(mode="json")
    return plain_ok, model_ok


# A value of another type that both sides refuse (pydantic's lax mode takes "5" for an int).
_WRONG: dict[str, Any] = {
    "str": ["x"],
    "int": [1],
    "float": [1.0],
    "float_map": ["m"],
    "list": {"a": 1},
    "object": "x",
    "state": ["healthy"],
}


def _cases(plain: Any) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, payload, should be accepted) at and just past every declared limit."""
    base = _valid_json(plain)
    cases = [("minimal", base, True)]
    for f in dataclasses.fields(plain):
        meta, name = f.metadata, f.name
        cases.append((f"{name}=None", {**base, name: None}, meta["optional"]))
        if meta["max_length"] is not None:
            top = meta["max_length"]
            cases.append((f"{name} at max", {**base, name: _sample(meta, top)}, True))
            cases.append((f"{name} past max", {**base, name: _sample(meta, top + 1)}, False))
        if meta["min_length"]:
            low = meta["min_length"]
            cases.append((f"{name} at min", {**base, name: _sample(meta, low)}, True))
            cases.append((f"{name} under min", {**base, name: _sample(meta, low - 1)}, False))
        if meta["ge"] is not None:
            cases.append((f"{name} at ge", {**base, name: meta["ge"]}, True))
            cases.append((f"{name} under ge", {**base, name: meta["ge"] - 1}, False))
        if meta["kind"] == "state":
            cases += [(f"{name}={s}", {**base, name: s}, True) for s in HEALTH_STATES]
            cases.append((f"{name}=unknown", {**base, name: "sick"}, False))
        if meta["kind"] == "version":
            cases.append((f"{name}=2", {**base, name: 2}, False))
        if meta["kind"] == "int":
            cases.append((f"{name} fractional", {**base, name: 1.5}, False))
            cases.append((f"{name} integral float", {**base, name: 3.0}, True))
        wrong = _WRONG.get(meta["kind"])
        if wrong is not None:
            cases.append((f"{name} wrong type", {**base, name: wrong}, False))
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            cases.append((f"{name} missing", {k: v for k, v in base.items() if k != name}, False))
    cases.append(("unknown field", {**base, "extra_field": 1}, False))
    return cases


@pytest.mark.parametrize(("plain", "model"), PAIRS, ids=IDS)
def test_both_sides_accept_and_refuse_the_same_payloads(plain: Any, model: type[BaseModel]) -> None:
    cases = _cases(plain)
    assert len(cases) > 5
    for name, data, expected in cases:
        assert _accepted(plain, model, data) == (expected, expected), f"{plain.__name__}: {name}"


# -- what the agent really sends ---------------------------------------------------------


class _Odd(SimulatedCollector):
    """The simulated devices, one with vendor strings longer than the wire allows."""

    def collect(self) -> Any:
        snap = super().collect()
        first = snap.devices[0]
        first.info = dataclasses.replace(
            first.info, model="M" * 300, serial="S\udcff" * 100, driver_version=None, memory_total_bytes=0
        )
        return snap


def test_the_agents_payloads_of_every_kind_validate_and_round_trip(tmp_path: Path) -> None:
    clock = iter(float(t) for t in range(1_000, 2_000, 10))
    collector = _Odd(devices=3, clock=lambda: 1_000.0)
    box = Outbox(tmp_path / "outbox.sqlite3")
    baseline = [DeviceInfo(index=9, vendor="simulated", model="gone", uuid="GPU-gone")]
    agent = Agent(
        collectors=[collector],
        components=[],
        outbox=box,
        hostname="h" * 255,
        host_info={"hostname": "h" * 255, "os": "o" * 400, "cpu_count": 4, "memory_total_bytes": 2**40},
        baseline=baseline,
        clock=lambda: next(clock),
    )
    agent.round()
    agent.components = [_Failing()]
    agent.round()
    items = box.peek(1_000)
    box.close()
    kinds = {i.kind for i in items}
    assert {"telemetry", "inventory", "health"} <= kinds
    for item in items:
        model = PAYLOAD_MODELS[item.kind]
        text = json.dumps(item.payload, allow_nan=False, sort_keys=True)
        again = model.model_validate_json(text).model_dump(mode="json")
        assert json.dumps(again, sort_keys=True) == text, item.kind
    body = json.dumps(
        {
            "items": [
                {"id": i.id, "kind": i.kind, "created_at": i.created_at, "payload": i.payload} for i in items
            ]
        }
    ).encode()
    parsed = parse_batch(body)
    assert [type(p.payload).__name__ for p in parsed] == [PAYLOAD_MODELS[i.kind].__name__ for i in items]
    assert set(ITEM_KINDS) - kinds == {"probe_record"}


class _Failing:
    name = "odd-check"

    def check(self, ctx: Any) -> list[HealthResult]:
        return [HealthResult("c" * 80, "unhealthy", "r" * 3000, "a" * 900, "GPU-x")]
