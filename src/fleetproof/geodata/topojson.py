"""Decode world-atlas TopoJSON into polygons keyed by ISO alpha-2 (pure; the caller reads the file)."""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np

from fleetproof.geo.raster import cut_at_antimeridian
from fleetproof.geodata.iso import NUMERIC_TO_ALPHA2, UNCODED_FEATURES

__all__ = ["Polygons", "decode_countries", "decode_country_edges"]

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


def _code(geom: dict[str, Any]) -> str | None:
    """A feature's ISO alpha-2 code: by numeric id, or by name for the features left uncoded."""
    if geom.get("id"):
        return NUMERIC_TO_ALPHA2.get(str(geom["id"]))
    return UNCODED_FEATURES.get(geom.get("properties", {}).get("name", ""))


def decode_countries(topo: dict[str, Any]) -> tuple[dict[str, Polygons], dict[str, str]]:
    """Return ``({alpha2: polygons}, {alpha2: name})``; features sharing a code are merged."""
    arcs = _arcs(topo)
    shapes: dict[str, Polygons] = {}
    names: dict[str, str] = {}
    for geom in topo["objects"]["countries"]["geometries"]:
        name = geom.get("properties", {}).get("name", "")
        code = _code(geom)
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


def _arc_refs(rings: Any) -> list[int]:
    """Every arc index in nested ring lists (reversed arcs as their plain index: orientation is moot)."""
    if isinstance(rings, int):
        return [rings if rings >= 0 else ~rings]
    return [i for r in rings for i in _arc_refs(r)]


def decode_country_edges(topo: dict[str, Any]) -> dict[str, np.ndarray]:
    """Country boundaries as edge arrays ``(E, 4)`` of ``x1, y1, x2, y2``, keyed by alpha-2.

    The same segments as the rings of :func:`decode_countries` (points rounded alike, an arc
    counted once per ring that uses it; edges across ±180° cut there, as the cells are made:
    :func:`~fleetproof.geo.raster.cut_at_antimeridian`), built with numpy: verdict refinement
    needs them at run time, where decoding rings into lists would cost a noticeable share of
    a batch.
    """
    lengths = np.fromiter((len(a) for a in topo["arcs"]), dtype=np.int64, count=len(topo["arcs"]))
    coords = chain.from_iterable(chain.from_iterable(topo["arcs"]))
    flat = np.fromiter(coords, dtype=np.float64, count=2 * int(lengths.sum())).reshape(-1, 2)
    t = topo.get("transform")
    if t is not None:
        ends = np.cumsum(lengths)
        total = np.cumsum(flat, axis=0)
        before = np.vstack([np.zeros((1, 2)), total[ends[:-1] - 1]])
        flat = (total - np.repeat(before, lengths, axis=0)) * np.asarray(t["scale"]) + np.asarray(
            t["translate"]
        )
    flat = np.round(flat, 6)
    starts = np.cumsum(lengths) - lengths
    n_edges = np.maximum(lengths - 1, 0)
    edges: dict[str, list[int]] = {}
    for geom in topo["objects"]["countries"]["geometries"]:
        code = _code(geom)
        if code is None or geom["type"] not in ("Polygon", "MultiPolygon"):
            continue
        edges.setdefault(code, []).extend(_arc_refs(geom["arcs"]))
    out = {}
    for code, refs in edges.items():
        idx = np.asarray(refs, dtype=np.int64)
        count = n_edges[idx]
        owner = np.repeat(idx, count)
        k = starts[owner] + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        out[code] = cut_at_antimeridian(np.hstack([flat[k], flat[k + 1]]))
    return out
