"""SVG maps of a verification: countries, landmarks, speed-bound disks, the region, the claim, the estimate.

Plain SVG in an equirectangular projection, so maps need no plotting library
and open in any browser. Each map is cropped to what matters for its target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import numpy as np

from fleetproof.geo import Claim, FeasibleRegion, Landmark, Result
from fleetproof.geo.sphere import EARTH_RADIUS_KM

__all__ = ["Shapes", "overview_svg", "result_svg"]

Shapes = Mapping[str, list[list[list[list[float]]]]]
WIDTH = 900
VERDICT_COLOURS = {"violation": "#c62828", "proven": "#2e7d32", "consistent": "#1565c0", "unknown": "#757575"}


def _disk(lat: float, lon: float, radius_km: float, n: int = 90) -> list[tuple[float, float]]:
    """Points of a small circle (destination-point formula), longitudes unwrapped around the centre."""
    d = min(radius_km / EARTH_RADIUS_KM, np.pi)
    brg = np.linspace(0, 2 * np.pi, n)
    p1, l1 = np.radians(lat), np.radians(lon)
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(brg))
    l2 = l1 + np.arctan2(np.sin(brg) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    lon2 = np.degrees(l2)
    lon2 = lon + (lon2 - lon + 180.0) % 360.0 - 180.0
    return list(zip(np.degrees(p2).tolist(), lon2.tolist(), strict=True))


class _Canvas:
    def __init__(self, lon0: float, lon1: float, lat0: float, lat1: float) -> None:
        self.lon0, self.lat1 = lon0, lat1
        self.scale = WIDTH / max(lon1 - lon0, 1e-6)
        self.height = max(int((lat1 - lat0) * self.scale), 60)
        self.bbox = (lon0, lon1, lat0, lat1)
        self.parts: list[str] = []

    def xy(self, lat: float, lon: float) -> str:
        return f"{(lon - self.lon0) * self.scale:.1f},{(self.lat1 - lat) * self.scale:.1f}"

    def path(self, rings: Sequence[Sequence[tuple[float, float]]], style: str) -> None:
        d = " ".join("M" + " L".join(self.xy(la, lo) for la, lo in ring) + "Z" for ring in rings if ring)
        if d:
            self.parts.append(f'<path d="{d}" {style}/>')

    def dot(self, lat: float, lon: float, r: float, style: str, title: str = "") -> None:
        x, y = self.xy(lat, lon).split(",")
        t = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(f'<circle cx="{x}" cy="{y}" r="{r}" {style}>{t}</circle>')

    def text(self, x: float, y: float, s: str, style: str = 'font-size="14"') -> None:
        self.parts.append(f'<text x="{x}" y="{y}" {style} font-family="sans-serif">{escape(s)}</text>')

    def svg(self) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{self.height}" '
            f'viewBox="0 0 {WIDTH} {self.height}"><rect width="100%" height="100%" fill="#eaf2f8"/>'
        )
        return head + "".join(self.parts) + "</svg>\n"


def _unwrapped(ring: Sequence[Sequence[float]]) -> np.ndarray | None:
    """A ring's points with longitudes made continuous across ±180° (so 179 → −179 becomes 179 → 181);
    None for a ring that winds around a pole (Antarctica's), which no shift can draw closed."""
    pts = np.asarray(ring, dtype=np.float64)[:, :2].copy()
    if pts.shape[0] < 2:
        return pts
    step = np.diff(pts[:, 0])
    wrap = np.concatenate(
        [[0.0], np.cumsum(np.where(step > 180.0, -360.0, np.where(step < -180.0, 360.0, 0.0)))]
    )
    if wrap[-1] != 0.0:
        return None
    pts[:, 0] += wrap
    return pts


def _countries(c: _Canvas, shapes: Shapes, highlight: Sequence[str] = ()) -> None:
    lon0, lon1, lat0, lat1 = c.bbox
    for code, polys in shapes.items():
        rings = []
        for poly in polys:
            unwrapped = [_unwrapped(ring) for ring in poly]
            outer = unwrapped[0] if unwrapped else None
            if outer is None or outer.shape[0] == 0 or any(r is None for r in unwrapped):
                continue
            # A polygon reaching past ±180° after unwrapping is drawn once more a turn away; the
            # canvas shows whichever copy falls in view.
            for shift in (0.0, -360.0, 360.0):
                if (
                    outer[:, 0].max() + shift < lon0
                    or outer[:, 0].min() + shift > lon1
                    or outer[:, 1].max() < lat0
                    or outer[:, 1].min() > lat1
                ):
                    continue
                rings.extend([[(y, x + shift) for x, y in r] for r in unwrapped if r is not None])
        fill = "#ffcc80" if code in highlight else "#fbfbf8"
        c.path(
            rings,
            f'data-country="{escape(code)}" fill="{fill}" stroke="#9e9e9e" stroke-width="0.5" '
            'fill-rule="evenodd"',
        )


def _view(points: Sequence[tuple[float, float]], min_span: float = 20.0) -> tuple[float, float, float, float]:
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    lat0, lat1, lon0, lon1 = min(lats), max(lats), min(lons), max(lons)
    if lon1 - lon0 > 200:
        return -180.0, 180.0, -60.0, 85.0
    span = max(lat1 - lat0, (lon1 - lon0) / 2, min_span / 2)
    clat, clon = (lat0 + lat1) / 2, (lon0 + lon1) / 2
    return clon - span * 1.15, clon + span * 1.15, max(clat - span * 0.6, -90), min(clat + span * 0.6, 90)


def result_svg(
    result: Result,
    claim: Claim | None,
    region: FeasibleRegion,
    disks: Sequence[tuple[Landmark, float, float]],
    shapes: Shapes,
) -> str:
    """One target's map; ``disks`` are (landmark, rtt_ms, bound_km) of the tightest landmarks."""
    pts: list[tuple[float, float]] = [(lm.lat, lm.lon) for lm, _, _ in disks[:2]]
    lat_c, lon_c = region.grid.center_latlon(region.cells)
    if region.cells.size:
        pts += [(float(lat_c.min()), float(lon_c.min())), (float(lat_c.max()), float(lon_c.max()))]
    est = result.estimate
    if est.lat is not None and est.lon is not None:
        pts.append((est.lat, est.lon))
    if claim is not None and claim.lat is not None and claim.lon is not None:
        pts.append((claim.lat, claim.lon))
    if not pts:
        pts = [(-60.0, -180.0), (85.0, 180.0)]
    c = _Canvas(*_view(pts))
    _countries(c, shapes, claim.countries if claim is not None else ())
    if claim is not None and claim.region is not None:
        from fleetproof.geo import geojson_polygons

        for poly in geojson_polygons(claim.region):
            c.path(
                [[(pos[1], pos[0]) for pos in ring] for ring in poly],  # [lon, lat] or [lon, lat, alt]
                'fill="none" stroke="#ef6c00" stroke-width="2"',
            )
    for poly in region.to_geojson()["coordinates"]:
        c.path([[(y, x) for x, y in poly[0]]], 'fill="#42a5f5" fill-opacity="0.35" stroke="none"')
    for lm, rtt, bound in disks:
        c.path([_disk(lm.lat, lm.lon, bound)], 'fill="none" stroke="#546e7a" stroke-dasharray="4 3"')
        c.dot(lm.lat, lm.lon, 4, 'fill="#263238"', f"{lm.id}: {rtt:.1f} ms → ≤ {bound:.0f} km")
    if est.lat is not None and est.lon is not None and est.radius_km is not None:
        c.path(
            [_disk(est.lat, est.lon, est.radius_km)], 'fill="#66bb6a" fill-opacity="0.25" stroke="#2e7d32"'
        )
        c.dot(est.lat, est.lon, 5, 'fill="#2e7d32"', f"estimate ±{est.radius_km:.0f} km")
    if claim is not None and claim.lat is not None and claim.lon is not None:
        c.dot(claim.lat, claim.lon, 6, 'fill="none" stroke="#c62828" stroke-width="3"', "claimed position")
    colour = VERDICT_COLOURS.get(result.verdict or "", "#424242")
    title = f"target {result.target}" + (f" · claim {result.claim}: {result.verdict}" if result.claim else "")
    if result.suspicious:
        title += " (suspicious)"
    c.text(10, 22, title, f'font-size="16" fill="{colour}" font-weight="bold"')
    c.text(10, 42, "blue: feasible region · dashed: speed-bound disks · green: estimate · red/orange: claim")
    return c.svg()


def overview_svg(
    landmarks: Sequence[Landmark], quarantined: Mapping[str, str], results: Sequence[Result], shapes: Shapes
) -> str:
    """The world: trusted landmarks, quarantined ones (red) and every estimate coloured by verdict."""
    c = _Canvas(-180.0, 180.0, -60.0, 85.0)
    _countries(c, shapes)
    for r in results[:20000]:
        e = r.estimate
        if e.lat is not None and e.lon is not None:
            c.dot(
                e.lat,
                e.lon,
                2,
                f'fill="{VERDICT_COLOURS.get(r.verdict or "", "#424242")}" fill-opacity="0.6"',
            )
    for lm in landmarks:
        if lm.id in quarantined:
            c.dot(lm.lat, lm.lon, 5, 'fill="none" stroke="#c62828" stroke-width="2"', f"{lm.id} quarantined")
        else:
            c.dot(lm.lat, lm.lon, 3, 'fill="#263238"', lm.id)
    c.text(
        10, 22, "landmarks (black), quarantined (red rings), estimates coloured by verdict", 'font-size="16"'
    )
    return c.svg()
