"""The dashboard in Debian's chromium: what a person sees on each page, with screenshots."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import Response

pytestmark = pytest.mark.browser

MAP_COLORS = {
    "land": (247, 245, 239),
    "sea": (223, 234, 243),
    "allowed": (183, 215, 245),
    "violation": (215, 25, 28),
    "proven": (26, 152, 80),
}


@pytest.fixture(scope="module")
def live(fleet_double: Any, kit: Any) -> Iterator[tuple[str, Any]]:

    source = fleet_double.InMemoryDashboardSource(400, now=time.time())
    app: FastAPI = kit.build_app(source)

    @app.get("/api/v1/reports/{kind}", dependencies=[Depends(kit.check_admin)])
    def report(kind: str, format: str = "csv") -> Response:  # stands in for the server's report API
        rows = "\n".join(f"{h['id']},{h['zone']},{h['verdict']}" for h in source.items[:5])
        return Response("host_id,zone,verdict\n" + rows + "\n", media_type="text/csv")

    server = kit.LiveServer(app)
    yield server.url, source
    server.close()


REDRAW = """() => {
  const m = window.fleetproofMap;
  const t = performance.now();
  m.draw();
  m.ctx.getImageData(0, 0, 1, 1); // forces the drawing to be rasterized now
  return performance.now() - t;
}"""


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)


def color_counts(page: Any) -> dict[str, int]:
    """How many canvas pixels have each of the map's key colours (exact RGB match)."""
    script = """(colors) => {
      const c = document.querySelector('canvas.worldmap');
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const out = Object.fromEntries(Object.keys(colors).map((k) => [k, 0]));
      for (let i = 0; i < data.length; i += 4) {
        for (const [k, [r, g, b]] of Object.entries(colors)) {
          if (data[i] === r && data[i + 1] === g && data[i + 2] === b) out[k]++;
        }
      }
      return out;
    }"""
    return dict(page.evaluate(script, MAP_COLORS))


def test_map_shows_countries_hosts_by_verdict_and_a_selection(
    live: tuple[str, Any], page: Any, kit: Any, tmp_path: Path
) -> None:
    url, source = live

    open_page(page, f"{url}/#token={kit.ADMIN_TOKEN}")
    assert "token" not in page.url  # the token leaves the address bar
    # Waits go through selectors, not wait_for_function: the page's CSP forbids the eval it needs.
    located = sum(1 for h in source.items if h["estimate"])
    page.wait_for_selector(f"canvas.worldmap[data-drawn='{located}']")
    counts = color_counts(page)
    page.screenshot(path=str(tmp_path / "map-initial.png"))
    assert counts["land"] > 50_000 and counts["sea"] > 50_000, counts
    assert counts["violation"] > 0 and counts["proven"] > 0, counts
    violations = sum(1 for h in source.items if h["verdict"] == "violation")
    assert page.inner_text("[data-verdict='violation'] .count") == str(violations)

    violator = next(h for h in source.items if h["verdict"] == "violation" and h["zone"] == "us-east")
    xy = page.evaluate(
        """(id) => { const m = window.fleetproofMap, p = m.points, i = p.ids.indexOf(id);
                     return m.toScreen(p.xy[2 * i], p.xy[2 * i + 1]); }""",
        violator["id"],
    )
    page.click("canvas.worldmap", position={"x": xy[0], "y": xy[1]})
    panel = page.wait_for_selector(".host-panel")
    text = panel.inner_text()
    assert violator["id"] in text and "violation" in text and "contradicting" in text
    assert "allowed: " in text
    page.wait_for_timeout(100)
    page.screenshot(path=str(tmp_path / "map.png"))
    assert color_counts(page)["allowed"] > 20, "the zone's allowed countries are not highlighted"
    page.screenshot(path=str(tmp_path / "map.png"))

    page.uncheck("[data-verdict='violation'] input")
    page.wait_for_timeout(100)
    assert color_counts(page)["violation"] == 0

    page.select_option("#color-by", "health")
    unhealthy = sum(1 for h in source.items if h["estimate"] and h["health"] == "unhealthy")
    assert page.inner_text("[data-health='unhealthy'] .count") == str(unhealthy) != "0"
    page.wait_for_timeout(100)
    assert color_counts(page)["violation"] > 0  # unhealthy shares the red


def test_map_follows_new_verdicts_without_a_reload(live: tuple[str, Any], page: Any, kit: Any) -> None:
    url, source = live
    page.add_init_script("window.fleetproofRefreshMs = 300;")
    open_page(page, f"{url}/#token={kit.ADMIN_TOKEN}")
    before = int(page.inner_text("[data-verdict='violation'] .count"))
    host = next(h for h in source.items if h["verdict"] == "proven")
    try:
        host["verdict"] = "violation"  # what the pipeline does when a host is caught
        page.wait_for_selector(f"[data-verdict='violation'] .count:text-is('{before + 1}')")
    finally:
        host["verdict"] = "proven"


def test_overview_counts_and_report_download(
    live: tuple[str, Any], page: Any, kit: Any, tmp_path: Path
) -> None:
    url, source = live

    open_page(page, f"{url}/#token={kit.ADMIN_TOKEN}")
    page.click("nav a[href='#/overview']")
    page.wait_for_selector("body[data-page='overview'][data-ready='1']")
    summary = source.summary()
    assert page.inner_text("[data-card='hosts'] .card-value") == f"{summary['hosts']:,}"
    assert page.inner_text("[data-card='suspicious'] .card-value") == str(summary["hosts_suspicious"])
    assert page.inner_text("[data-card='open alerts'] .card-value") == f"{summary['open_alerts']:,}"
    assert "us-west" in page.inner_text(".panels")
    assert page.locator(".alerts-table tbody tr").count() == 8
    with page.expect_download() as info:
        page.click("#report-csv")
    saved = tmp_path / "report.csv"
    info.value.save_as(saved)
    assert saved.read_text().startswith("host_id,zone,verdict\n")
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    page.click(".bar-row[data-label='violation']")
    page.wait_for_selector("body[data-page='hosts'][data-ready='1']")
    violations = summary["hosts_by_verdict"]["violation"]
    assert page.inner_text("#hosts-total") == f"{violations} hosts"
    assert page.locator("#hosts-table tbody tr").count() == violations
    page.screenshot(path=str(tmp_path / "hosts.png"))


def test_host_page_shows_health_telemetry_and_history(
    live: tuple[str, Any], page: Any, kit: Any, tmp_path: Path
) -> None:
    url, source = live

    faulty = next(h for h in source.items if source.faults[h["id"]] and h["estimate"])
    component, _device = source.faults[faulty["id"]][0]
    open_page(page, f"{url}/#token={kit.ADMIN_TOKEN}")
    page.goto(f"{url}/#/host/{faulty['id']}")
    page.wait_for_selector("body[data-page='host'][data-ready='1']")
    assert page.locator("#accelerators tbody tr").count() == 8
    assert page.locator("#mini-map canvas.worldmap[data-drawn='0']").count() == 1  # region, no fleet
    key = page.inner_text("#key-attestation")
    expected = source.host(faulty["id"])["key_attestation"]
    assert ("software key, not hardware-bound" if expected else "no attestation") in key
    assert f"evidence export --device {faulty['id']}" in page.inner_text("section.host")
    health = page.inner_text("#health")
    detail = source.host(faulty["id"])
    finding = next(c for c in detail["health_components"] if c["component"] == component)
    assert finding["reason"] in health and finding["suggested_action"] in health
    charts = page.locator("figure.chart")
    assert charts.count() == 5
    assert [charts.nth(i).get_attribute("data-metric") for i in range(5)] == [
        "temperature_c",
        "power_w",
        "utilization_percent",
        "memory_used_bytes",
        "ecc_volatile_uncorrected_total",
    ]
    assert page.locator("figure.chart[data-metric='power_w'] path.line").count() == 8
    assert page.locator("#history > details").count() == 5
    assert "rtt_ms" in page.inner_text("#history > details[open]")
    page.click("text=show on map")
    page.wait_for_selector(f".host-panel[data-host='{faulty['id']}']")
    page.go_back()
    page.wait_for_selector("body[data-page='host'][data-ready='1']")
    page.click(".more-metrics summary")
    page.click("button.metric:text('clock_sm_mhz')")
    # Attached, not visible: at some hours of the day the double's clocks sit at one value for the whole
    # window, and a flat line has no height, which Playwright counts as hidden.
    page.wait_for_selector("figure.chart[data-metric='clock_sm_mhz'] path.line", state="attached")
    page.screenshot(path=str(tmp_path / "host.png"), full_page=True)


def test_alerts_and_landmarks_pages(live: tuple[str, Any], page: Any, kit: Any, tmp_path: Path) -> None:
    url, source = live

    open_page(page, f"{url}/#token={kit.ADMIN_TOKEN}")
    page.goto(f"{url}/#/alerts?open_only=1")
    page.wait_for_selector("body[data-page='alerts'][data-ready='1']")
    first_open = next(a for a in source.alert_list if a["open"])
    assert first_open["message"] in page.inner_text(".alerts-table")
    assert page.locator(".alerts-table tr.resolved").count() == 0
    page.screenshot(path=str(tmp_path / "alerts.png"))
    page.goto(f"{url}/#/landmarks")
    page.wait_for_selector("body[data-page='landmarks'][data-ready='1']")
    assert "jnb1: claimed position inconsistent" in page.inner_text(".quarantine-list")
    assert page.locator("#landmarks-table tr.quarantined").count() == 1
    page.screenshot(path=str(tmp_path / "landmarks.png"))


def test_map_geometry_helpers(live: tuple[str, Any], page: Any) -> None:
    """The page's own TopoJSON/projection code: antimeridian cutting, projection, evidence walking."""
    url, _ = live
    page.goto(url + "/")
    result = page.evaluate(
        """async () => {
      const topo = await import('/dashboard/static/js/topo.js');
      const dom = await import('/dashboard/static/js/dom.js');
      const fiji = topo.cutRing([[178, -17], [-179, -17], [-179, -16], [178, -16], [178, -17]]);
      const pole = topo.cutRing([[-180, -70], [0, -75], [180, -70], [180, -90], [-180, -90], [-180, -70]]);
      const plain = topo.cutRing([[0, 0], [10, 0], [10, 10], [0, 0]]);
      const ev = dom.evidenceLandmarks({tightest: [{landmark: 'fra'}], contradicting: [{landmark: 'nrt'}]});
      return {
        fiji: fiji.map((p) => p.map(([lon]) => Math.sign(lon))),
        pole: pole.length, plain: plain.length,
        origin: topo.project(0, 0), east: topo.project(180, 0), bounds: topo.WORLD_BOUNDS,
        named: [...ev.named].sort(), contradicting: [...ev.contradicting],
      };
    }"""
    )
    # The ring crossing 180° becomes two pieces, each wholly on one side.
    assert len(result["fiji"]) == 2
    assert all(len(set(signs)) == 1 for signs in result["fiji"])
    assert {signs[0] for signs in result["fiji"]} == {1, -1}
    assert result["plain"] == 1 and result["pole"] >= 1
    assert result["origin"] == [0, 0] and abs(result["east"][0] - 2.7353) < 1e-3
    assert abs(result["bounds"]["maxY"] - 1.4224) < 1e-3
    assert result["named"] == ["fra", "nrt"] and result["contradicting"] == ["nrt"]


def test_sign_in_asks_for_the_token_and_refuses_a_wrong_one(
    live: tuple[str, Any], page: Any, kit: Any
) -> None:
    url, _ = live

    page.goto(url + "/")
    page.wait_for_selector("form.signin")
    page.fill("#token", "wrong-token")
    page.click("form.signin button")
    page.wait_for_selector("form.signin .error")
    assert "refused" in page.inner_text("form.signin .error")
    page.fill("#token", kit.ADMIN_TOKEN)
    page.click("form.signin button")
    page.wait_for_selector("body[data-page='map'][data-ready='1']")


def test_ten_thousand_hosts_load_without_freezing(fleet_double: Any, kit: Any, browser: Any) -> None:
    """First load (navigation to map drawn) with 10,000 hosts, and a redraw fast enough to pan."""

    big = fleet_double.InMemoryDashboardSource(10_000, now=time.time())
    located = sum(1 for h in big.items if h["estimate"])
    server = kit.LiveServer(kit.build_app(big))
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 860})
        page = context.new_page()
        page.goto(f"{server.url}/#token={kit.ADMIN_TOKEN}")
        page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        page.wait_for_selector(f"canvas.worldmap[data-drawn='{located}']")
        load_ms = page.evaluate("performance.now()")
        redraw_ms = page.evaluate(REDRAW)
        context.close()
    finally:
        server.close()
    # The figure itself (≤ 1 s) is measured by benchmarks/dashboard_load.py; this bound only
    # catches a regression without failing on a busy shared machine.
    assert load_ms < 4000, load_ms
    assert redraw_ms < 250, redraw_ms
