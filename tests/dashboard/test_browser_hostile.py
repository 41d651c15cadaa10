"""Hostile strings in every field an agent or operator controls reach the page as text, never as markup.

Host names, OS names, accelerator models and UUIDs, zone ids and descriptions, landmark ids,
alert messages, health reasons and evidence all come from outside the server. A wrapper around
the in-memory fleet plants markup in each; the page must show it literally and run none of it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.browser


def bad(tag: str) -> str:
    """A payload that runs script if it is ever parsed as HTML (or as an attribute value)."""
    return f"{tag}\"'><img src=x onerror=window.__pwned='{tag}'>"


HOST = bad("host")
ZONE = bad("zone")
LANDMARK = bad("landmark")
METRIC = bad("metric")


class HostileSource:
    """The in-memory fleet with markup in every free-text field of one host, one alert, one landmark."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.real = next(item["id"] for item in inner.items if item["verdict"] == "violation")

    def _item(self, item: Any) -> Any:
        if item["id"] != self.real:
            return item
        return {**item, "id": HOST, "hostname": bad("hostname"), "zone": ZONE}

    def summary(self) -> Any:
        out = copy.deepcopy(self.inner.summary())
        out["hosts_by_zone"] = {**out["hosts_by_zone"], ZONE: 1, "constructor": 2, "__proto__": 3}
        out["accelerators_by_vendor"] = {**out["accelerators_by_vendor"], bad("vendor"): 8}
        return out

    def hosts(self, offset: int, limit: int, **filters: Any) -> Any:
        total, items = self.inner.hosts(offset, limit, **filters)
        return total, [self._item(item) for item in items]

    def map_points(self) -> Any:
        return [{**p, "id": HOST} if p["id"] == self.real else p for p in self.inner.map_points()]

    def host(self, host_id: str) -> Any:
        if host_id != HOST:
            return self.inner.host(host_id)
        d = copy.deepcopy(self.inner.host(self.real))
        d.update(self._item(d))
        d["zone_detail"].update(id=ZONE, description=bad("description"), site_name=bad("site"))
        d["inventory"]["host"].update(os=bad("os"), kernel=bad("kernel"), cpu_model=bad("cpu"))
        for n, a in enumerate(d["accelerators"]):
            a.update(model=bad(f"model{n}"), vendor=bad(f"vendor{n}"), uuid=bad(f"uuid{n}"))
            a.update(driver_version=bad(f"driver{n}"), serial=bad(f"serial{n}"))
        d["accelerators"][0]["metrics"] = {**d["accelerators"][0].get("metrics", {}), METRIC: 1.0}
        d["health_components"].insert(
            0,
            {
                "component": bad("component"),
                "accelerator_uuid": bad("orphan-uuid"),
                "state": "unhealthy",
                "reason": bad("reason"),
                "suggested_action": bad("action"),
                "time": self.inner.now - 30.0,
            },
        )
        # A UUID that is also a key of every JS object: still an unknown accelerator, shown as is.
        d["health_components"].insert(1, {**d["health_components"][0], "accelerator_uuid": "constructor"})
        evidence = d["verdicts"][0]["evidence"]
        evidence[bad("evkey")] = bad("evvalue")
        evidence["contradicting"] = [{"landmark": LANDMARK, bad("column"): bad("cell")}]
        evidence["nested"] = {"deeper": {bad("deepkey"): [bad("deepvalue")]}}
        return d

    def telemetry(self, host_id: str, metric: str, since: float) -> Any:
        series = self.inner.telemetry(self.real if host_id == HOST else host_id, metric, since)
        return [{**s, "uuid": bad(f"series{s['index']}")} for s in series]

    def alerts(self, open_only: bool, offset: int, limit: int) -> Any:
        total, items = self.inner.alerts(open_only, offset, limit)
        hostile = {
            **items[0],
            "id": 10**6,
            "kind": bad("kind"),
            "subject": bad("subject"),
            "device_id": HOST,
            "message": bad("message"),
            "severity": bad("severity"),
            "open": True,
        }
        return total + 1, [hostile, *items]

    def landmarks(self) -> Any:
        items = copy.deepcopy(self.inner.landmarks())
        first = items[0]
        items.append(
            {**first, "id": LANDMARK, "country": bad("lmcountry"), "quarantine_reason": bad("quarantine")}
        )
        return items


@pytest.fixture(scope="module")
def live(fleet_double: Any, kit: Any) -> Iterator[str]:
    import time

    source = HostileSource(fleet_double.InMemoryDashboardSource(120, now=time.time()))
    server = kit.LiveServer(kit.build_app(source))
    yield server.url
    server.close()


# Anything that would have run, or would run on a later event: a set flag, an element the page
# never builds itself, or any inline event handler attribute.
INJECTED = """() => ({
  pwned: window.__pwned === undefined ? null : String(window.__pwned),
  imgs: document.querySelectorAll('main img, main iframe, main script, main object').length,
  handlers: [...document.querySelectorAll('*')].flatMap((el) =>
    [...el.attributes].filter((a) => a.name.startsWith('on')).map((a) => el.tagName + ' ' + a.name)),
  scriptHrefs: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href'))
    .filter((href) => !href.startsWith('#')),
})"""


def visit(page: Any, url: str) -> str:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    page.wait_for_timeout(300)  # an onerror fires once the bogus image fails to load
    found = page.evaluate(INJECTED)
    assert found == {"pwned": None, "imgs": 0, "handlers": [], "scriptHrefs": []}, url
    return str(page.inner_text("main"))


def test_hostile_strings_stay_text_on_every_page(live: str, page: Any, kit: Any) -> None:
    page.goto(f"{live}/#token={kit.ADMIN_TOKEN}")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    encoded = quote(HOST, safe="")

    text = visit(page, f"{live}/#/map?host={encoded}")
    for tag in ("host", "zone", "evkey", "evvalue", "column", "cell", "landmark"):
        assert bad(tag) in text, tag

    text = visit(page, f"{live}/#/host/{encoded}")
    page.wait_for_selector("figure.chart", timeout=15_000)
    page.click("details.more-metrics summary")
    page.get_by_role("button", name=METRIC).click()
    page.wait_for_selector("details.more-metrics figure.chart")
    assert page.evaluate(INJECTED)["pwned"] is None
    text = str(page.inner_text("main"))
    expected = ["host", "hostname", "zone", "description", "site", "os", "kernel", "cpu", "model0", "uuid0"]
    expected += ["driver0", "component", "orphan-uuid", "reason", "action", "evkey", "evvalue", "metric"]
    for tag in expected:
        assert bad(tag) in text, tag
    assert "[native code]" not in text and "[object Object]" not in text
    cells = page.evaluate(
        "() => [...document.querySelectorAll('#health tbody tr td:nth-child(2)')].map((e) => e.textContent)"
    )
    assert "constructor" in cells
    titles = page.evaluate("() => [...document.querySelectorAll('svg title')].map((t) => t.textContent)")
    assert any(bad("series0") in t for t in titles)

    text = visit(page, f"{live}/#/hosts")
    assert bad("host") in text and bad("hostname") in text and bad("zone") in text
    text = visit(page, f"{live}/#/alerts")
    for tag in ("kind", "message", "severity", "host"):
        assert bad(tag) in text, tag
    text = visit(page, f"{live}/#/landmarks")
    for tag in ("landmark", "lmcountry", "quarantine"):
        assert bad(tag) in text, tag


def test_zone_names_that_are_object_keys_show_as_themselves(live: str, page: Any, kit: Any) -> None:
    """A zone called ``constructor`` is a name like any other, not a lookup into a JS prototype."""
    page.goto(f"{live}/#token={kit.ADMIN_TOKEN}")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    text = visit(page, f"{live}/#/overview")
    assert bad("zone") in text and bad("vendor") in text
    labels = page.evaluate("() => [...document.querySelectorAll('.bar-label')].map((e) => e.textContent)")
    assert "constructor" in labels and "__proto__" in labels
    assert "[native code]" not in text


def test_a_malformed_link_is_reported_not_a_blank_page(live: str, page: Any, kit: Any) -> None:
    """A pasted link with a broken percent escape names the host it could not find."""
    page.goto(f"{live}/#token={kit.ADMIN_TOKEN}")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    page.goto(f"{live}/#/host/gpu-%E0%A4%A")
    page.wait_for_selector("body[data-ready='error']", timeout=15_000)
    assert "404" in page.inner_text("main")


@pytest.mark.parametrize("route", ["hosts?page=abc", "alerts?page=-2.5", "hosts?page=1e40"])
def test_a_nonsense_page_number_shows_the_first_page(live: str, page: Any, kit: Any, route: str) -> None:
    page.goto(f"{live}/#token={kit.ADMIN_TOKEN}")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    page.goto(f"{live}/#/{route}")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    assert "page 1 of" in page.inner_text("main .pager")
