"""Check that a ``DashboardSource`` answers in the documented shapes.

A store backend implements the source on its own tables; this module lets its
tests ask "does every answer match the TypedDicts of ``source.py``?" and get a
list of readable problems (``summary().hosts: missing``) instead of a
broken page. ``problems(value, Shape)`` walks a value against a TypedDict,
``Literal``, ``X | None``, ``list[...]`` and ``dict[str, ...]`` annotation;
``source_problems(source, host_id)`` calls every method once and checks all.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

from fleetproof.server.dashboard.source import (
    Alert,
    DashboardSource,
    HostDetail,
    HostItem,
    Landmark,
    MapPoint,
    Summary,
    TelemetrySeries,
)

__all__ = ["problems", "source_problems"]


def problems(value: Any, shape: Any, where: str = "$") -> list[str]:
    """Every way ``value`` departs from the annotation ``shape``; empty when it conforms."""
    if shape is Any:
        return []
    if is_typeddict(shape):
        return _typeddict_problems(value, shape, where)
    origin = get_origin(shape)
    if origin is Literal:
        return [] if value in get_args(shape) else [f"{where}: {value!r} is not one of {get_args(shape)}"]
    if origin in (Union, types.UnionType):
        options = get_args(shape)
        if any(not problems(value, option, where) for option in options):
            return []
        return [f"{where}: {value!r} matches none of {_name(shape)}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        (item,) = get_args(shape) or (Any,)
        return [p for k, v in enumerate(value) for p in problems(v, item, f"{where}[{k}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        _, item = get_args(shape) or (str, Any)
        found = [f"{where}: key {k!r} is not a string" for k in value if not isinstance(k, str)]
        return found + [p for k, v in value.items() for p in problems(v, item, f"{where}.{k}")]
    return _scalar_problems(value, shape, where)


def _typeddict_problems(value: Any, shape: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected {shape.__name__} object, got {type(value).__name__}"]
    hints = get_type_hints(shape)
    # Extra keys are allowed: the dashboard ignores what it does not name.
    found = [f"{where}.{key}: missing" for key in shape.__required_keys__ if key not in value]
    for key, hint in hints.items():
        if key in value:
            found += problems(value[key], hint, f"{where}.{key}")
    return found


def _scalar_problems(value: Any, shape: Any, where: str) -> list[str]:
    if shape is type(None):
        return [] if value is None else [f"{where}: expected null, got {value!r}"]
    if shape is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif shape is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(shape, type):
        ok = isinstance(value, shape)
    else:
        return []
    return [] if ok else [f"{where}: expected {_name(shape)}, got {value!r}"]


def _name(shape: Any) -> str:
    name = getattr(shape, "__name__", None)
    return name if isinstance(name, str) else repr(shape)


def source_problems(source: DashboardSource, host_id: str, metric: str = "temperature_c") -> list[str]:
    """Call every method of ``source`` once and check each answer against its documented shape."""
    found = problems(source.summary(), Summary, "summary()")
    total, items = source.hosts(0, 20)
    found += problems(total, int, "hosts().total") + problems(items, list[HostItem], "hosts().items")
    found += problems(source.map_points(), list[MapPoint], "map_points()")
    detail = source.host(host_id)
    found += (
        ["host(): None for an existing host"] if detail is None else problems(detail, HostDetail, "host()")
    )
    series = source.telemetry(host_id, metric, 0.0)
    found += problems(series, list[TelemetrySeries], "telemetry()")
    total, alerts = source.alerts(False, 0, 20)
    found += problems(total, int, "alerts().total") + problems(alerts, list[Alert], "alerts().items")
    found += problems(source.landmarks(), list[Landmark], "landmarks()")
    return found
