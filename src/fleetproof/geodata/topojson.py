"""Decode world-atlas TopoJSON into polygons keyed by ISO alpha-2 (pure; the caller reads the file)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fleetproof.geodata.iso import NUMERIC_TO_ALPHA2, UNCODED_FEATURES

__all__ = ["Polygons", "decode_countries"]

#: One country: a list of polygons, each a list of rings, each a list of [lon, lat].
Polygons = list[list[list[list[float]]]]


def _arcs(topo: dict[str, Any]) -> list[np.ndarray]:
    t = topo.get("transform")
    out = []
    for arc in topo["arcs"]:
        a = np.asarray(arc, dtype=np.float64)
        if t is not None:
            a = np.cumsum(a, axis=0) * np.asarray(t["scale"]) + np.asarray(t["translate"])
        out.append(a)
    return out


def _ring(indices: list[int], arcs: list[np.ndarray]) -> list[list[float]]:
    parts = []
    for k, i in enumerate(indices):
        a = arcs[i] if i >= 0 else arcs[~i][::-1]
        parts.append(a if k == 0 else a[1:])
    pts = np.vstack(parts)
    return [[round(float(x), 6), round(float(y), 6)] for x, y in pts]


def decode_countries(topo: dict[str, Any]) -> tuple[dict[str, Polygons], dict[str, str]]:
    """Return ``({alpha2: polygons}, {alpha2: name})``; features sharing a code are merged."""
    arcs = _arcs(topo)
    shapes: dict[str, Polygons] = {}
    names: dict[str, str] = {}
    for geom in topo["objects"]["countries"]["geometries"]:
        name = geom.get("properties", {}).get("name", "")
        code = NUMERIC_TO_ALPHA2.get(str(geom.get("id"))) if geom.get("id") else UNCODED_FEATURES.get(name)
        if code is None:
            continue
        if geom["type"] == "Polygon":
            polys = [geom["arcs"]]
        elif geom["type"] == "MultiPolygon":
            polys = geom["arcs"]
        else:
            continue
        decoded = [[_ring(r, arcs) for r in poly] for poly in polys]
        shapes.setdefault(code, []).extend(decoded)
        names.setdefault(code, name)
    return shapes, names
