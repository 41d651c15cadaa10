"""The dashboard router against the in-memory fleet: auth, shapes, paging, filters, assets, speed."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from fastapi.testclient import TestClient

from fleetproof.server.dashboard import API_PREFIX
from fleetproof.server.dashboard.routes import STATIC_DIR, columnar_points, countries_path, thin_points
from fleetproof.server.dashboard.source import DashboardSource, HostDetail, HostItem, Landmark, Summary

NOW = 1_790_000_000.0  # the in-memory fleet's "now" (conftest.NOW)


@pytest.fixture(scope="module")
def client(source: Any, build_app: Any) -> TestClient:
    return TestClient(build_app(source, clock=lambda: NOW))


API_ROUTES = [
    "/summary",
    "/hosts",
    "/map-points",
    "/hosts/eu-central-gpu-00000",
    "/hosts/eu-central-gpu-00000/telemetry?metric=power_w",
    "/alerts",
    "/landmarks",
    "/countries",
]


@pytest.mark.parametrize("path", API_ROUTES)
def test_every_api_route_requires_the_admin_token(client: TestClient, path: str) -> None:
    assert client.get(API_PREFIX + path).status_code == 401
    assert client.get(API_PREFIX + path, headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize("path", API_ROUTES)
def test_every_api_route_answers_with_the_token(client: TestClient, auth: dict[str, str], path: str) -> None:
    assert client.get(API_PREFIX + path, headers=auth).status_code == 200


def test_the_double_satisfies_the_protocol(source: Any) -> None:
    assert isinstance(source, DashboardSource)


def _assert_keys(value: dict[str, Any], shape: type) -> None:
    assert set(value) == set(get_type_hints(shape)), shape.__name__


def test_answers_have_the_documented_shapes(client: TestClient, auth: dict[str, str]) -> None:
    _assert_keys(client.get(f"{API_PREFIX}/summary", headers=auth).json(), Summary)
    page = client.get(f"{API_PREFIX}/hosts", headers=auth).json()
    _assert_keys(page["items"][0], HostItem)
    detail = client.get(f"{API_PREFIX}/hosts/eu-central-gpu-00000", headers=auth).json()
    _assert_keys(detail, HostDetail)
    _assert_keys(client.get(f"{API_PREFIX}/landmarks", headers=auth).json()["items"][0], Landmark)


def test_summary_counts_add_up(client: TestClient, auth: dict[str, str], source: Any) -> None:
    summary = client.get(f"{API_PREFIX}/summary", headers=auth).json()
    assert summary["hosts"] == 300
    for key in ("hosts_by_verdict", "hosts_by_health", "hosts_by_zone"):
        assert sum(summary[key].values()) == 300
    assert sum(summary["accelerators_by_health"].values()) == summary["accelerators"] == 2400
    assert summary["hosts_by_verdict"]["none"] > 0 and summary["hosts_suspicious"] > 0
    assert summary["hosts_by_verdict"]["violation"] >= 3
    assert summary["open_alerts"] == sum(1 for a in source.alert_list if a["open"]) > 0


def test_hosts_are_paged_and_filtered_by_the_source(client: TestClient, auth: dict[str, str]) -> None:
    first = client.get(f"{API_PREFIX}/hosts?offset=0&limit=20", headers=auth).json()
    second = client.get(f"{API_PREFIX}/hosts?offset=20&limit=20", headers=auth).json()
    assert first["total"] == second["total"] == 300
    assert len(first["items"]) == len(second["items"]) == 20
    assert not {h["id"] for h in first["items"]} & {h["id"] for h in second["items"]}
    bad = client.get(f"{API_PREFIX}/hosts?verdict=violation&limit=500", headers=auth).json()
    assert bad["total"] >= 3 and all(h["verdict"] == "violation" for h in bad["items"])
    zoned = client.get(f"{API_PREFIX}/hosts?zone=us-west&health=healthy", headers=auth).json()
    assert zoned["items"] and all(h["zone"] == "us-west" and h["health"] == "healthy" for h in zoned["items"])
    found = client.get(f"{API_PREFIX}/hosts?q=GPU-00042", headers=auth).json()
    assert [h["id"] for h in found["items"]] == ["eu-central-gpu-00042"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "offset=-1",
        "offset=9223372036854775808",
        "verdict=Lost!",
        "health=%20",
        "q=" + "x" * 300,
    ],
)
def test_bad_paging_and_filters_are_rejected(client: TestClient, auth: dict[str, str], query: str) -> None:
    assert client.get(f"{API_PREFIX}/hosts?{query}", headers=auth).status_code == 422


def test_map_points_are_columns_and_skip_unlocated_hosts(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get(f"{API_PREFIX}/map-points", headers=auth)
    assert response.headers["content-encoding"] == "gzip"  # decoded transparently by the client
    points = response.json()
    located = [h for h in points["ids"]]
    assert points["count"] == len(located) == len(points["lat"]) == len(points["verdict"])
    assert points["count"] + points["unlocated"] == 300 and points["unlocated"] > 0
    shown = {points["verdicts"][code] for code in points["verdict"]}
    assert shown == {"proven", "consistent", "suspicious", "violation", "unknown"}
    assert all(-90 <= lat <= 90 for lat in points["lat"])


def test_columnar_points_codes_round_trip() -> None:
    points: list[Any] = [
        {
            "id": "a",
            "lat": 50.123456,
            "lon": 8.1,
            "verdict": "violation",
            "suspicious": True,
            "health": "degraded",
        },
        {"id": "b", "lat": None, "lon": None, "verdict": "unknown", "suspicious": False, "health": "unknown"},
    ]
    cols = columnar_points(points)
    assert cols["ids"] == ["a"] and cols["lat"] == [50.1235] and cols["unlocated"] == 1
    assert cols["verdicts"][cols["verdict"][0]] == "violation"
    assert cols["health_states"][cols["health"][0]] == "degraded" and cols["suspicious"] == [1]


def test_host_detail_and_missing_host(client: TestClient, auth: dict[str, str], source: Any) -> None:
    violator = next(h for h in source.items if h["verdict"] == "violation")
    detail = client.get(f"{API_PREFIX}/hosts/{violator['id']}", headers=auth).json()
    assert detail["zone_detail"]["allowed_countries"] and detail["region"]["type"] == "Polygon"
    assert detail["verdicts"][0]["evidence"]["contradicting"]
    assert len(detail["accelerators"]) == 8
    missing = client.get(f"{API_PREFIX}/hosts/no-such-host", headers=auth)
    assert missing.status_code == 404 and "no-such-host" in missing.json()["detail"]


def test_telemetry_defaults_to_six_hours_and_is_thinned(client: TestClient, auth: dict[str, str]) -> None:
    url = f"{API_PREFIX}/hosts/eu-central-gpu-00000/telemetry"
    recent = client.get(url, params={"metric": "temperature_c"}, headers=auth).json()
    assert recent["since"] == NOW - 6 * 3600
    assert len(recent["series"]) == 8
    assert all(NOW - 6 * 3600 <= t <= NOW for t, _ in recent["series"][0]["points"])
    day = client.get(url, params={"metric": "temperature_c", "since": NOW - 86400}, headers=auth).json()
    assert 300 < len(day["series"][0]["points"]) <= 600  # 1441 samples thinned
    assert client.get(url, params={"metric": "nope"}, headers=auth).json()["series"] == []
    assert client.get(url, headers=auth).status_code == 422
    for since in ("nan", "inf", "-5", "1e300"):
        assert client.get(url, params={"metric": "power_w", "since": since}, headers=auth).status_code == 422


def test_thinning_keeps_error_spikes_and_averages_gauges() -> None:
    points = [[float(t), 0.0] for t in range(2000)]
    points[1234][1] = 5.0
    assert max(v for _, v in thin_points(points, "xid_errors_total", 100)) == 5.0
    assert max(v for _, v in thin_points(points, "power_w", 100)) == 0.25
    assert thin_points(points[:10], "power_w", 100) == points[:10]


def test_alerts_paging_and_open_filter(client: TestClient, auth: dict[str, str], source: Any) -> None:
    everything = client.get(f"{API_PREFIX}/alerts?limit=500", headers=auth).json()
    opened = client.get(f"{API_PREFIX}/alerts?open_only=true&limit=500", headers=auth).json()
    assert everything["total"] == len(source.alert_list) > opened["total"] > 0
    assert all(a["open"] for a in opened["items"])
    times = [a["opened_at"] for a in everything["items"]]
    assert times == sorted(times, reverse=True)


def test_landmarks_include_the_quarantined_one(client: TestClient, auth: dict[str, str]) -> None:
    items = client.get(f"{API_PREFIX}/landmarks", headers=auth).json()["items"]
    quarantined = [lm for lm in items if lm["quarantine_reason"]]
    assert [lm["id"] for lm in quarantined] == ["jnb1"] and quarantined[0]["mesh"]["conflicts"] > 0


def test_countries_topojson_carries_alpha2_codes(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get(f"{API_PREFIX}/countries", headers=auth)
    topo = response.json()
    names = {
        g["properties"]["name"]: g["properties"]["a2"] for g in topo["objects"]["countries"]["geometries"]
    }
    assert names["Germany"] == "DE" and names["Brazil"] == "BR" and names["Kosovo"] == "XK"
    assert len(names) > 200 and topo["type"] == "Topology"
    raw = client.get(f"{API_PREFIX}/countries", headers={**auth, "Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and json.loads(raw.content) == topo
    assert countries_path().is_file()


def test_page_and_assets_are_public_and_confined(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "/dashboard/static/js/app.js" in page.text
    script = client.get("/dashboard/static/js/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    again = client.get("/dashboard/static/js/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/dashboard/static/../routes.py").status_code == 404
    assert client.get("/dashboard/static/%2e%2e/routes.py").status_code == 404
    assert client.get("/dashboard/static/nope.js").status_code == 404


def test_no_asset_reaches_outside_the_machine() -> None:
    """Fully offline: no asset names a remote URL (CDN, tiles, fonts)."""
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in {".js", ".css", ".html"}:
            text = path.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
            assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


def test_every_referenced_script_exists() -> None:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert 'src="/dashboard/static/js/app.js"' in page
    for module in (STATIC_DIR / "js").glob("*.js"):
        for line in module.read_text(encoding="utf-8").splitlines():
            if line.startswith("import ") and " from " in line:
                target = line.split(" from ")[1].strip(" ;'\"")
                assert (module.parent / target).resolve().is_file(), (module.name, target)


def test_ten_thousand_hosts_answer_quickly(fleet_double: Any, build_app: Any, auth: dict[str, str]) -> None:
    """The API part of a first load with 10,000 hosts: summary, map points, first table page, countries."""
    big = fleet_double.InMemoryDashboardSource(10_000, now=NOW)
    client = TestClient(build_app(big))
    client.get(f"{API_PREFIX}/countries", headers=auth)  # parsed once per process, like a warm server
    started = time.perf_counter()
    sizes = []
    for path in ("/summary", "/map-points", "/hosts?limit=50", "/countries"):
        response = client.get(API_PREFIX + path, headers=auth)
        assert response.status_code == 200
        sizes.append(len(response.content))
    elapsed = time.perf_counter() - started
    assert json.loads(client.get(f"{API_PREFIX}/map-points", headers=auth).content)["count"] > 8000
    assert elapsed < 1.0, f"first-load API calls took {elapsed:.2f} s"
    packed = client.get(f"{API_PREFIX}/map-points", headers=auth)
    assert len(gzip.compress(packed.content)) < 200_000


def test_vendored_licences_are_shipped() -> None:
    vendor = Path(STATIC_DIR / "vendor")
    assert (vendor / "LICENSE-world-atlas.txt").read_text().startswith("Copyright")
    assert "MIT" in (vendor / "LICENSE-i18n-iso-countries.txt").read_text()


def test_source_factory_may_be_a_generator_that_closes_its_session(source: Any, auth: dict[str, str]) -> None:
    """The server can open a store session per request and close it after the answer."""
    from fastapi import FastAPI

    from fleetproof.server.dashboard import make_router

    events: list[str] = []

    def per_request() -> Any:
        events.append("open")
        try:
            yield source
        finally:
            events.append("close")

    def no_check() -> None:
        return None

    app = FastAPI()
    app.include_router(make_router(per_request, no_check))
    with TestClient(app) as client:
        assert client.get(f"{API_PREFIX}/summary").json()["hosts"] == 300
        assert client.get(f"{API_PREFIX}/countries").status_code == 200
    assert events == ["open", "close"]


def test_every_asset_folder_is_a_package_so_the_wheel_ships_it() -> None:
    """pyproject's package-data globs apply per package: an asset folder without __init__.py is left out."""
    folders = {path.parent for path in STATIC_DIR.rglob("*") if path.is_file() and path.suffix != ".py"}
    assert folders and all((folder / "__init__.py").is_file() for folder in folders), folders


def test_browser_tests_skip_without_chromium_unless_required(kit: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("FLEETPROOF_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        kit.require_browser("/nonexistent/chromium")
    monkeypatch.setenv("FLEETPROOF_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception):
        kit.require_browser("/nonexistent/chromium")


@pytest.mark.parametrize("path", API_ROUTES)
def test_admin_answers_are_never_cached_nor_sniffed(
    client: TestClient, auth: dict[str, str], path: str
) -> None:
    """Fleet data read with the admin token must not stay in a browser or proxy cache."""
    answer = client.get(API_PREFIX + path, headers=auth)
    assert answer.status_code == 200
    assert answer.headers.get("cache-control") == "no-store", path
    assert answer.headers.get("x-content-type-options") == "nosniff", path


def test_page_refuses_framing_and_referrers(client: TestClient) -> None:
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "'unsafe-inline'" not in policy  # styles are set through the CSSOM, which CSP allows
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
