"""The agent's side of the wire formats: the JSON of :mod:`fleetproof.protocol.wire`, from dataclasses.

The server validates every payload with the pydantic models in ``wire``; the agent only
builds payloads from its own readings. Importing pydantic and building those models added
about 10 MB to the agent's resident memory (a third of what it needs now), so it builds the same
JSON from the frozen dataclasses here instead, with the same field names, defaults and limits
(``min_length``, ``max_length``, ``ge``), checked when an object is made: a payload the agent
builds is one the server accepts, and a bad reading fails in the agent, where the round
reports it, as it did with the models.

The two cannot drift silently: ``tests/test_wire_plain.py`` compares every field here with the
model's ``model_fields`` (name, order, default, limits, whether ``None`` is allowed) and checks
that payloads built here validate against the models and round-trip to the same JSON, and that
each limit rejects on both sides. Nothing here imports pydantic (a test runs the agent's imports
in a fresh interpreter to keep it so).

Type checks are a little stricter than pydantic's lax mode: a ``str`` field takes only ``str``,
an ``int`` field an ``int`` (or a float with an integral value, as pydantic allows) and not a
``bool``, and a ``float`` field a finite number.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetproof.protocol.health import HEALTH_STATES, HealthState

__all__ = [
    "WIRE_VERSION",
    "AcceleratorInventory",
    "AcceleratorSample",
    "HealthEvent",
    "HostInventory",
    "InventoryReport",
    "TelemetryReport",
    "WireObject",
    "fit",
]

WIRE_VERSION: Literal[1] = 1

# Kinds of field, as the checks below read them from each field's metadata.
_STR, _INT, _FLOAT, _FLOAT_MAP, _OBJECT, _LIST, _STATE, _VERSION = (
    "str",
    "int",
    "float",
    "float_map",
    "object",
    "list",
    "state",
    "version",
)


def _meta(
    kind: str,
    *,
    optional: bool = False,
    min_length: int | None = None,
    max_length: int | None = None,
    ge: float | None = None,
    item: type[WireObject] | None = None,
) -> dict[str, Any]:
    """A field's wire kind and limits, kept in its metadata; the limits mean what pydantic's
    ``Field`` arguments of the same names mean, ``optional`` that ``None`` is allowed."""
    return {
        "kind": kind,
        "optional": optional,
        "min_length": min_length,
        "max_length": max_length,
        "ge": ge,
        "item": item,
    }


class WireObject:
    """Base of the payload dataclasses: checks every field when made, and gives the JSON form."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            checked = _check(type(self).__name__, f.name, value, f.metadata)
            if checked is not value:
                object.__setattr__(self, f.name, checked)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form: what ``model_dump(mode="json")`` of the server's model gives."""
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _dump(value: Any) -> Any:
    if isinstance(value, WireObject):
        return value.to_dict()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not a finite number")
    return float(value)


def _integer(where: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    return value


def _check(owner: str, name: str, value: Any, meta: Mapping[str, Any]) -> Any:
    """``value`` as the field holds it (ints made floats where the model does), or ValueError."""
    where = f"{owner}.{name}"
    kind = meta["kind"]
    if value is None:
        if meta["optional"]:
            return None
        raise ValueError(f"{where}: a value is required")
    if kind == _STR:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {type(value).__name__}")
        out: Any = value
    elif kind == _INT:
        out = _integer(where, value)
    elif kind == _FLOAT:
        out = _number(where, value)
    elif kind == _FLOAT_MAP:
        if not isinstance(value, Mapping):
            raise ValueError(f"{where}: expected a mapping of names to numbers")
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"{where}: every key must be a string")
        out = {k: _number(f"{where}[{k!r}]", v) for k, v in value.items()}
    elif kind == _OBJECT:
        if not isinstance(value, meta["item"]):
            raise ValueError(f"{where}: expected a {meta['item'].__name__}, got {type(value).__name__}")
        out = value
    elif kind == _LIST:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{where}: expected a list")
        item = meta["item"]
        for i, v in enumerate(value):
            if not isinstance(v, item):
                raise ValueError(f"{where}[{i}]: expected a {item.__name__}, got {type(v).__name__}")
        out = list(value)
    elif kind == _STATE:
        if value not in HEALTH_STATES:
            raise ValueError(f"{where}: {value!r} is not one of {', '.join(HEALTH_STATES)}")
        out = value
    elif kind == _VERSION:
        if value != WIRE_VERSION or isinstance(value, bool):
            raise ValueError(f"{where}: this agent writes version {WIRE_VERSION}, not {value!r}")
        out = value
    else:  # pragma: no cover - a field declared with an unknown kind is a bug here
        raise AssertionError(f"{where}: unknown wire kind {kind!r}")
    if meta["min_length"] is not None and len(out) < meta["min_length"]:
        raise ValueError(f"{where}: shorter than {meta['min_length']}")
    if meta["max_length"] is not None and len(out) > meta["max_length"]:
        raise ValueError(f"{where}: longer than {meta['max_length']} ({len(out)})")
    if meta["ge"] is not None and out < meta["ge"]:
        raise ValueError(f"{where}: {out!r} is below {meta['ge']}")
    return out


@dataclass(frozen=True, kw_only=True)
class AcceleratorInventory(WireObject):
    """What an accelerator *is*; a change of any field is an inventory event."""

    index: int = field(metadata=_meta(_INT, ge=0))
    vendor: str = field(metadata=_meta(_STR, min_length=1, max_length=32))
    model: str = field(metadata=_meta(_STR, max_length=128))
    uuid: str = field(metadata=_meta(_STR, min_length=1, max_length=128))
    serial: str | None = field(default=None, metadata=_meta(_STR, optional=True, max_length=128))
    bus_id: str | None = field(default=None, metadata=_meta(_STR, optional=True, max_length=64))
    driver_version: str | None = field(default=None, metadata=_meta(_STR, optional=True, max_length=64))
    firmware_version: str | None = field(default=None, metadata=_meta(_STR, optional=True, max_length=128))
    memory_total_bytes: int | None = field(default=None, metadata=_meta(_INT, optional=True, ge=0))


@dataclass(frozen=True, kw_only=True)
class HostInventory(WireObject):
    hostname: str = field(metadata=_meta(_STR, min_length=1, max_length=255))
    os: str | None = field(default=None, metadata=_meta(_STR, optional=True, max_length=255))
    kernel: str | None = field(default=None, metadata=_meta(_STR, optional=True, max_length=255))
    cpu_model: str | None = field(default=None, metadata=_meta(_STR, optional=True, max_length=255))
    cpu_count: int | None = field(default=None, metadata=_meta(_INT, optional=True, ge=0))
    memory_total_bytes: int | None = field(default=None, metadata=_meta(_INT, optional=True, ge=0))


@dataclass(frozen=True, kw_only=True)
class InventoryReport(WireObject):
    version: Literal[1] = field(default=WIRE_VERSION, metadata=_meta(_VERSION))
    time: float = field(metadata=_meta(_FLOAT))  # Unix time, seconds
    host: HostInventory = field(metadata=_meta(_OBJECT, item=HostInventory))
    accelerators: list[AcceleratorInventory] = field(
        metadata=_meta(_LIST, max_length=256, item=AcceleratorInventory)
    )


@dataclass(frozen=True, kw_only=True)
class AcceleratorSample(WireObject):
    """One accelerator's metrics at one instant: metric name (with unit) -> value."""

    uuid: str = field(metadata=_meta(_STR, min_length=1, max_length=128))
    index: int = field(metadata=_meta(_INT, ge=0))
    vendor: str = field(metadata=_meta(_STR, min_length=1, max_length=32))
    model: str = field(metadata=_meta(_STR, max_length=128))
    metrics: dict[str, float] = field(metadata=_meta(_FLOAT_MAP, max_length=256))


@dataclass(frozen=True, kw_only=True)
class TelemetryReport(WireObject):
    version: Literal[1] = field(default=WIRE_VERSION, metadata=_meta(_VERSION))
    time: float = field(metadata=_meta(_FLOAT))  # Unix time, seconds
    hostname: str = field(metadata=_meta(_STR, min_length=1, max_length=255))
    accelerators: list[AcceleratorSample] = field(
        metadata=_meta(_LIST, max_length=256, item=AcceleratorSample)
    )
    host_metrics: dict[str, float] = field(default_factory=dict, metadata=_meta(_FLOAT_MAP, max_length=256))


@dataclass(frozen=True, kw_only=True)
class HealthEvent(WireObject):
    """A health component's judgement: what, why, and what to do."""

    version: Literal[1] = field(default=WIRE_VERSION, metadata=_meta(_VERSION))
    time: float = field(metadata=_meta(_FLOAT))  # Unix time, seconds
    component: str = field(metadata=_meta(_STR, min_length=1, max_length=64))
    state: HealthState = field(metadata=_meta(_STATE))
    reason: str = field(metadata=_meta(_STR, max_length=2000))
    suggested_action: str | None = field(default=None, metadata=_meta(_STR, optional=True, max_length=500))
    device_uuid: str | None = field(default=None, metadata=_meta(_STR, optional=True, max_length=128))


def fit(cls: type[WireObject], data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that ``cls`` has, strings clipped to its ``max_length`` and made encodable.

    So that one odd vendor string (too long, or with undecodable bytes, which would fail the
    JSON encoding) cannot fail a whole round.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    out = {}
    for name, value in data.items():
        f = fields.get(name)
        if f is None:
            continue
        if isinstance(value, str):
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
            limit = f.metadata["max_length"]
            if limit is not None:
                value = value[:limit]
        out[name] = value
    return out
