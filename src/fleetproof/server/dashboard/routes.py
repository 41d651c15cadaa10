"""HTTP routes of the dashboard: the page, its vendored assets, and its JSON API.

The server app mounts the router returned by ``make_router``; the dashboard
only reads through a ``DashboardSource`` so it works the same over SQLite,
PostgreSQL or a test double. The page and its assets are public (they hold no
data); every JSON route requires the admin credential through the
``check_admin`` dependency the server app supplies.

The API answers are shaped for a browser showing 10,000 hosts: tables are paged
by the source, map points travel as columns of numbers (a third of the bytes of
one object per host), telemetry is thinned to a few hundred points per series,
and large answers are gzip-compressed when the browser accepts it.
"""

# No ``from __future__ import annotations`` here: FastAPI must see the route
# annotations as objects, and ``Source`` below is local to ``make_router``.
import functools
import gzip
import hashlib
import json
import math
import mimetypes
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from fleetproof.server.dashboard.source import (
    HEALTH_STATES,
    VERDICTS,
    DashboardSource,
    MapPoint,
    TelemetrySeries,
    display_verdict,
)

__all__ = ["API_PREFIX", "STATIC_PREFIX", "countries_path", "make_router"]

API_PREFIX = "/api/v1/dashboard"
STATIC_PREFIX = "/dashboard/static"
STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_PAGE = 500
MAX_OFFSET = 2**31 - 1  # far beyond any fleet; keeps OFFSET inside every database's integer
MAX_SERIES_POINTS = 600
DEFAULT_TELEMETRY_WINDOW_S = 6 * 3600.0
_GZIP_MIN_BYTES = 8 * 1024
_LABEL = r"^[a-z_]{1,32}$"  # verdict and health filter values

# Natural Earth units without an ISO numeric code, drawn as part of the country that holds them.
_UNCODED_COUNTRIES = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}


def countries_path() -> Path:
    """Where the vendored Natural Earth TopoJSON (world-atlas@2 ``countries-50m.json``) lives.

    One function so that the file can move without touching the routes.
    """
    return Path(__file__).resolve().parents[2] / "data" / "countries-50m.json"


@functools.lru_cache(maxsize=2)
def _countries_payload(path: Path) -> tuple[bytes, bytes]:
    """The TopoJSON with each country's ISO alpha-2 code added as ``properties.a2``.

    Zones name their allowed countries by alpha-2 while Natural Earth keys
    countries by ISO numeric code; translating once here keeps the page simple.
    Returns (plain, gzipped) bytes, computed once per process.
    """
    topo = json.loads(path.read_text(encoding="utf-8"))
    numeric = json.loads((STATIC_DIR / "vendor" / "iso3166-numeric-alpha2.json").read_text(encoding="utf-8"))
    for geometry in topo["objects"]["countries"]["geometries"]:
        props = geometry.setdefault("properties", {})
        code = numeric.get(str(geometry.get("id", "")))
        props["a2"] = code or _UNCODED_COUNTRIES.get(props.get("name", ""))
    plain = json.dumps(topo, separators=(",", ":")).encode()
    return plain, gzip.compress(plain, compresslevel=6, mtime=0)


# Every JSON answer is fleet data read with the admin token: no browser or proxy may keep a copy
# (a shared machine's cache, a corporate proxy), and none may be sniffed into a renderable type.
_API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _no_store(response: Response) -> None:
    """Router dependency: the headers of ``_API_HEADERS`` on answers that routes return as plain data."""
    response.headers.update(_API_HEADERS)


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def _json_response(request: Request, payload: Any, *, pre: tuple[bytes, bytes] | None = None) -> Response:
    """A JSON answer, gzip-compressed when large and the client accepts it."""
    if pre is None:
        plain = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        packed = gzip.compress(plain, compresslevel=5, mtime=0) if len(plain) >= _GZIP_MIN_BYTES else None
    else:
        plain, packed = pre
    headers = {**_API_HEADERS, "Vary": "Accept-Encoding"}
    if packed is not None and _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="application/json", headers=headers)
    return Response(plain, media_type="application/json", headers=headers)


def _static_files(root: Path) -> dict[str, tuple[Path, str]]:
    """Every servable asset by URL path; anything not listed here is a 404 (no path walking)."""
    files: dict[str, tuple[Path, str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in {".js", ".css", ".html", ".svg", ".txt", ".json"}:
            media = "text/javascript" if path.suffix == ".js" else mimetypes.guess_type(path.name)[0]
            files[path.relative_to(root).as_posix()] = (path, media or "application/octet-stream")
    return files


# The page loads nothing from elsewhere and runs no inline script; say so to the browser, so that
# an injected string (a host name, an alert message) could not run even if it reached the DOM as markup.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
        "style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP level 2
    "Referrer-Policy": "no-referrer",
}


def _asset_response(request: Request, path: Path, media_type: str) -> Response:
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", **_PAGE_HEADERS}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if media_type.startswith("text/") and "charset" not in media_type:
        media_type += "; charset=utf-8"
    return Response(body, media_type=media_type, headers=headers)


def columnar_points(points: Sequence[MapPoint]) -> dict[str, Any]:
    """Map points as parallel arrays: ids, rounded coordinates and small integer codes.

    Hosts without an estimate are counted in ``unlocated`` and left off the map.
    ``verdict`` codes index ``verdicts``, the colour classes of ``display_verdict``.
    """
    verdict_code = {v: i for i, v in enumerate(VERDICTS)}
    health_code: dict[str, int] = {h: i for i, h in enumerate(HEALTH_STATES)}
    ids: list[str] = []
    lat: list[float] = []
    lon: list[float] = []
    verdict: list[int] = []
    health: list[int] = []
    suspicious: list[int] = []
    unlocated = 0
    for point in points:
        if point["lat"] is None or point["lon"] is None:
            unlocated += 1
            continue
        ids.append(point["id"])
        lat.append(round(point["lat"], 4))
        lon.append(round(point["lon"], 4))
        verdict.append(verdict_code[display_verdict(point["verdict"], point["suspicious"])])
        health.append(health_code.get(point["health"], health_code["unknown"]))
        suspicious.append(1 if point["suspicious"] else 0)
    return {
        "verdicts": list(VERDICTS),
        "health_states": list(HEALTH_STATES),
        "count": len(ids),
        "unlocated": unlocated,
        "ids": ids,
        "lat": lat,
        "lon": lon,
        "verdict": verdict,
        "health": health,
        "suspicious": suspicious,
    }


def thin_points(points: list[list[float]], metric: str, limit: int = MAX_SERIES_POINTS) -> list[list[float]]:
    """At most ``limit`` points per series, so a week of 10-second samples stays light.

    Consecutive samples are grouped into equal buckets; each bucket keeps its
    last time and its mean, except error counters, which keep the bucket's
    maximum so that a single spike is never averaged away.
    """
    if len(points) <= limit:
        return points
    keep_max = any(word in metric for word in ("error", "xid", "ecc", "retired", "fault"))
    size = math.ceil(len(points) / limit)
    thinned: list[list[float]] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        values = [p[1] for p in bucket]
        value = max(values) if keep_max else sum(values) / len(values)
        thinned.append([bucket[-1][0], value])
    return thinned


def make_router(
    source_factory: Callable[..., Any],
    check_admin: Callable[..., Any],
    *,
    clock: Callable[[], float] = time.time,
    countries: Callable[[], Path] = countries_path,
) -> APIRouter:
    """The dashboard's routes, to be mounted at the application root.

    ``source_factory`` and ``check_admin`` are FastAPI dependencies: the first
    yields (or returns) a ``DashboardSource`` for the request — a generator
    dependency can close a database session afterwards — and the second
    raises ``HTTPException(401)`` unless the request carries the admin token.
    """
    router = APIRouter()
    _add_page_routes(router)
    api = APIRouter(
        prefix=API_PREFIX, dependencies=[Depends(check_admin), Depends(_no_store)], tags=["dashboard"]
    )
    source = Annotated[DashboardSource, Depends(source_factory)]
    _add_fleet_routes(api, source, countries)
    _add_host_routes(api, source, clock)
    router.include_router(api)
    return router


def _add_page_routes(router: APIRouter) -> None:
    """The page and its assets: public, since they hold no data."""
    assets = _static_files(STATIC_DIR)

    @router.get("/", include_in_schema=False)
    def page(request: Request) -> Response:
        return _asset_response(request, *assets["index.html"])

    @router.get(STATIC_PREFIX + "/{name:path}", include_in_schema=False)
    def asset(request: Request, name: str) -> Response:
        found = assets.get(name)
        if found is None:
            raise HTTPException(status_code=404, detail="no such asset")
        return _asset_response(request, *found)


def _add_fleet_routes(api: APIRouter, Source: Any, countries: Callable[[], Path]) -> None:
    """Fleet-wide answers: counts, the hosts table, map points, alerts, landmarks, the world."""

    @api.get("/summary")
    def summary(source: Source) -> Any:
        return source.summary()

    @api.get("/hosts")
    def hosts(
        source: Source,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        verdict: Annotated[str | None, Query(pattern=_LABEL, description="a verdict, or none")] = None,
        zone: Annotated[str | None, Query(max_length=128)] = None,
        health: Annotated[str | None, Query(pattern=_LABEL)] = None,
        q: Annotated[str | None, Query(max_length=255)] = None,
    ) -> Any:
        total, items = source.hosts(offset, limit, verdict=verdict, zone=zone, health=health, q=q or None)
        return {"total": total, "offset": offset, "limit": limit, "items": items}

    @api.get("/map-points")
    def map_points(request: Request, source: Source) -> Response:
        return _json_response(request, columnar_points(source.map_points()))

    @api.get("/alerts")
    def alerts(
        source: Source,
        open_only: bool = False,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> Any:
        total, items = source.alerts(open_only, offset, limit)
        return {"total": total, "offset": offset, "limit": limit, "items": items}

    @api.get("/landmarks")
    def landmarks(source: Source) -> Any:
        return {"items": source.landmarks()}

    @api.get("/countries")
    def countries_topojson(request: Request) -> Response:
        return _json_response(request, None, pre=_countries_payload(countries()))


def _add_host_routes(api: APIRouter, Source: Any, clock: Callable[[], float]) -> None:
    """One host: its detail and its telemetry."""

    @api.get("/hosts/{host_id}")
    def host(source: Source, host_id: Annotated[str, PathParam(max_length=255)]) -> Any:
        detail = source.host(host_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"no host {host_id!r}")
        return {**detail, "verdicts": detail["verdicts"][:50]}

    @api.get("/hosts/{host_id}/telemetry")
    def telemetry(
        source: Source,
        host_id: Annotated[str, PathParam(max_length=255)],
        metric: Annotated[str, Query(min_length=1, max_length=128)],
        since: Annotated[
            float | None,
            Query(ge=0, le=1e11, allow_inf_nan=False, description="Unix seconds; default 6 h ago"),
        ] = None,
    ) -> Any:
        start = clock() - DEFAULT_TELEMETRY_WINDOW_S if since is None else since
        series: list[TelemetrySeries] = source.telemetry(host_id, metric, start)
        thinned = [{**s, "points": thin_points(s["points"], metric)} for s in series]
        return {"host_id": host_id, "metric": metric, "since": start, "series": thinned}
