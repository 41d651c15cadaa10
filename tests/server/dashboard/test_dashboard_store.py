"""The dashboard over the real store: the server app with its StoreDashboardSource, SQLite and PostgreSQL.

A small fleet goes through the real path (enrolment, signed ingest of probe
records, telemetry and health, the verdict pipeline on the engine), then the
dashboard's source, JSON API and page are checked against what was sent.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from server_helpers import (  # type: ignore[import-not-found]
    ADMIN_HEADERS,
    add_landmark,
    enroll,
    ensure_zone,
    health_item,
    record_item,
    signed,
    telemetry_item,
)

from fleetproof.geo import distance_km
from fleetproof.protocol.curve25519 import Ed25519PrivateKey
from fleetproof.server.dashboard.contract import source_problems
from fleetproof.server.dashboard_data import StoreDashboardSource
from fleetproof.server.engine import GeoVerifier, GeoVetter
from fleetproof.server.pipeline import process_queue

API = "/api/v1/dashboard"
LANDMARKS = {
    "par": (48.86, 2.35, "FR"),
    "fra": (50.11, 8.68, "DE"),
    "mad": (40.42, -3.70, "ES"),
    "lon": (51.51, -0.13, "GB"),
    "waw": (52.23, 21.01, "PL"),
    "rom": (41.90, 12.50, "IT"),
}
FRANKFURT_DC = (50.05, 8.57)


def rtt_ms(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Fibre at 2/3 c along a route 1.5x the great circle, plus 0.5 ms at the ends."""
    return round(2 * 1.5 * distance_km(a[0], a[1], b[0], b[1]) / 199.86 + 0.5, 3)


@pytest.fixture
def fleet(client: Any, ctx: Any, clock: Any) -> dict[str, Any]:
    """An honest host in Frankfurt (zone DE/FR) with a failed GPU, and one claimed in Japan but also there."""
    ctx.verifier = GeoVerifier()
    ctx.vetter = GeoVetter()
    keys = {lm: Ed25519PrivateKey.generate() for lm in LANDMARKS}
    for lm, (lat, lon, cc) in LANDMARKS.items():
        add_landmark(client, lm, lat, lon, keys[lm], cc)
    ensure_zone(client, "de-fr", ("DE", "FR"))
    ensure_zone(client, "japan", ("JP",))
    honest = enroll(client, "de-fr", "honest")
    liar = enroll(client, "japan", "liar")
    for dev in (honest, liar):
        items = [
            record_item(dev, lm, keys[lm], rtt_ms(FRANKFURT_DC, (lat, lon)), clock.now)
            for lm, (lat, lon, _) in LANDMARKS.items()
        ]
        items += [telemetry_item(clock.now - 60.0 * k, dev_hostname(dev), gpus=2) for k in range(5, -1, -1)]
        r = signed(client, dev, "/api/v1/ingest", {"items": items}, now=clock.now)
        assert r.status_code == 200, r.text
    broken = health_item(clock.now, "unhealthy", "GPU-honest-1")
    r = signed(client, honest, "/api/v1/ingest", {"items": [broken]}, now=clock.now)
    assert r.status_code == 200, r.text
    clock.advance(ctx.settings.verdict_debounce_s + 1)
    assert process_queue(ctx, now=clock.now) == 2
    return {"honest": honest.device_id, "liar": liar.device_id}


def dev_hostname(dev: Any) -> str:
    return "honest" if dev.zone == "de-fr" else "liar"


def test_the_store_source_answers_in_the_dashboard_shapes(ctx: Any, fleet: dict[str, Any]) -> None:
    source = StoreDashboardSource(ctx.db)
    for host in fleet.values():
        assert source_problems(source, host, "temperature_c") == []


def test_the_dashboard_api_over_the_store(client: Any, fleet: dict[str, Any]) -> None:
    assert client.get(f"{API}/summary").status_code == 401
    summary = client.get(f"{API}/summary", headers=ADMIN_HEADERS).json()
    assert summary["hosts"] == 2 and summary["hosts_by_verdict"]["violation"] == 1
    assert summary["accelerators"] == 4 and summary["open_alerts"] >= 2
    points = client.get(f"{API}/map-points", headers=ADMIN_HEADERS).json()
    by_id = {i: points["verdicts"][v] for i, v in zip(points["ids"], points["verdict"], strict=True)}
    assert by_id[fleet["liar"]] == "violation" and by_id[fleet["honest"]] in ("proven", "consistent")
    liar = client.get(f"{API}/hosts/{fleet['liar']}", headers=ADMIN_HEADERS).json()
    assert liar["zone_detail"]["allowed_countries"] == ["JP"]
    assert liar["estimate"]["country"] == "DE" and liar["region"]["type"] in ("Polygon", "MultiPolygon")
    assert liar["verdicts"][0]["evidence"]["contradicting"]
    honest = client.get(f"{API}/hosts/{fleet['honest']}", headers=ADMIN_HEADERS).json()
    [broken] = [c for c in honest["health_components"] if c["state"] == "unhealthy"]
    assert broken["accelerator_uuid"] == "GPU-honest-1" and broken["suggested_action"]
    telemetry = client.get(
        f"{API}/hosts/{fleet['honest']}/telemetry",
        params={"metric": "power_w", "since": 0},
        headers=ADMIN_HEADERS,
    ).json()
    assert [s["uuid"] for s in telemetry["series"]] == ["GPU-honest-0", "GPU-honest-1"]
    assert len(telemetry["series"][0]["points"]) == 6
    kinds = {a["kind"] for a in client.get(f"{API}/alerts", headers=ADMIN_HEADERS).json()["items"]}
    assert "location_violation" in kinds
    page = client.get(f"{API}/hosts", params={"verdict": "violation"}, headers=ADMIN_HEADERS).json()
    assert [h["id"] for h in page["items"]] == [fleet["liar"]]
    assert client.get("/").status_code == 200 and "fleetproof" in client.get("/").text


def _dashboard_kit() -> ModuleType:
    """The dashboard tests' helpers (live server, chromium), loaded by path."""
    name = "fleetproof_dashboard_test_kit"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "dashboard" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


@pytest.mark.browser
def test_the_page_over_the_store_in_chromium(ctx: Any, fleet: dict[str, Any], tmp_path: Path) -> None:
    if ctx.db.url.startswith("postgresql"):
        pytest.skip("the page is the same over both stores; SQLite is enough for the browser")
    kit = _dashboard_kit()
    kit.require_browser()
    from playwright.sync_api import sync_playwright

    from fleetproof.server.app import create_app

    server = kit.LiveServer(create_app(ctx))
    try:
        with sync_playwright() as p:
            browser = kit.launch_chromium(p)
            page = browser.new_page(viewport={"width": 1400, "height": 860}, accept_downloads=True)
            page.set_default_timeout(15_000)
            page.goto(f"{server.url}/#token=test-admin-token")
            page.wait_for_selector("body[data-page='map'][data-ready='1']")
            page.wait_for_selector("canvas.worldmap[data-drawn='2']")
            assert page.inner_text("[data-verdict='violation'] .count") == "1"
            page.goto(f"{server.url}/#/host/{fleet['liar']}")
            page.wait_for_selector("body[data-page='host'][data-ready='1']")
            assert "contradicting" in page.inner_text("#history")
            page.goto(f"{server.url}/#/host/{fleet['honest']}")
            page.wait_for_selector("body[data-page='host'][data-ready='1']")
            assert "Xid 79" in page.inner_text("#health")
            assert page.locator("figure.chart[data-metric='power_w'] path.line").count() == 2
            page.screenshot(path=str(tmp_path / "store-host.png"), full_page=True)
            page.goto(f"{server.url}/#/overview")
            page.wait_for_selector("body[data-page='overview'][data-ready='1']")
            with page.expect_download() as info:
                page.click("#report-csv")
            saved = tmp_path / "compliance.csv"
            info.value.save_as(saved)
            lines = saved.read_text().splitlines()
            assert len(lines) == 3 and any(fleet["liar"] in line and "violation" in line for line in lines)
            browser.close()
    finally:
        server.close()


HOSTILE = "evil\"'><img src=x onerror=window.__pwned=1>"


@pytest.mark.browser
def test_agent_strings_reach_the_page_as_text(ctx: Any, client: Any, clock: Any) -> None:
    """Markup in an agent's host name, GPU UUIDs and health reason, sent through the real API, stays text."""
    if ctx.db.url.startswith("postgresql"):
        pytest.skip("the page is the same over both stores; SQLite is enough for the browser")
    kit = _dashboard_kit()
    kit.require_browser()
    from playwright.sync_api import sync_playwright

    from fleetproof.server.app import create_app

    dev = enroll(client, "de-fr", HOSTILE)
    bad = health_item(clock.now, "unhealthy", f"GPU-{HOSTILE}-1")
    bad["payload"].update(reason=HOSTILE + " reason", suggested_action=HOSTILE + " action")
    items = [telemetry_item(clock.now - 60.0, HOSTILE, gpus=2), bad]
    r = signed(client, dev, "/api/v1/ingest", {"items": items}, now=clock.now)
    assert r.status_code == 200, r.text
    server = kit.LiveServer(create_app(ctx))
    try:
        with sync_playwright() as p:
            browser = kit.launch_chromium(p)
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/#token=test-admin-token")
            page.wait_for_selector("body[data-ready='1']")
            for route in ("hosts", f"host/{dev.device_id}"):
                page.goto(f"{server.url}/#/{route}")
                page.wait_for_selector("body[data-ready='1']")
                page.wait_for_timeout(300)  # an onerror would fire once the bogus image fails
                assert page.evaluate("() => window.__pwned") is None, route
                assert page.locator("main img").count() == 0, route
                assert HOSTILE in page.inner_text("main"), route
            text = page.inner_text("main")
            assert f"GPU-{HOSTILE}-0" in text and HOSTILE + " reason" in text and HOSTILE + " action" in text
            browser.close()
            assert not errors, errors
    finally:
        server.close()
