"""First load of the dashboard's map page with 10,000 hosts, in Debian's chromium.

Measures, in a fresh browser context each time (nothing cached), the time from
navigation start until the map page has drawn every located host, for a fleet
of 10,000 hosts and, as the baseline in the same run, a fleet of 100 hosts.
Also reports the longest main-thread task (a freeze shows up there), one full
map redraw (what every pan/zoom frame costs) and the bytes transferred.

    PYTHONPATH=src /work/venv/bin/python benchmarks/dashboard_load.py [--hosts 10000] [--runs 5]

The server is the dashboard router over the tests' in-memory fleet
(``tests/dashboard/fleet_double.py``) in uvicorn on 127.0.0.1, so the figure is
the dashboard's own cost, not a store's query time; with ``--store`` the same
10,000 hosts are also written into a SQLite store and served by the server app
itself (``create_app`` with its ``StoreDashboardSource``), the figure an
operator sees.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

LONGTASKS = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push(e.duration);
}).observe({ type: "longtask", buffered: true });
"""

MEASURE = """() => {
  const m = window.fleetproofMap;
  const t = performance.now();
  m.draw();
  m.ctx.getImageData(0, 0, 1, 1); // forces the drawing to be rasterized now
  const redraw = performance.now() - t;
  const bytes = performance.getEntriesByType("resource").reduce((n, e) => n + (e.transferSize || 0), 0);
  const nav = performance.getEntriesByType("navigation")[0];
  return { redraw_ms: redraw, bytes: bytes + (nav ? nav.transferSize : 0),
           longest_task_ms: Math.max(0, ...window.__longtasks) };
}"""


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def first_load(browser: Any, url: str, expected: int) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.add_init_script(LONGTASKS)
    page.goto(url)
    # A selector wait, not wait_for_function: the page's CSP forbids the eval that needs.
    page.wait_for_selector(f"canvas.worldmap[data-drawn='{expected}']", timeout=30_000)
    load_ms = float(page.evaluate("performance.now()"))
    figures: dict[str, float] = page.evaluate(MEASURE)
    context.close()
    return {"load_ms": load_ms, **figures}


def store_app(source: Any, folder: Path, token: str) -> Any:
    """The server app over a SQLite store holding the in-memory fleet's hosts, accelerators and alerts."""
    from sqlalchemy import insert

    from fleetproof.server.app import create_app
    from fleetproof.server.config import ServerSettings
    from fleetproof.server.context import ServerContext
    from fleetproof.server.records_check import check_probe_record
    from fleetproof.server.store import models as m
    from fleetproof.server.store.db import Database

    url = f"sqlite:///{folder / 'fleet.db'}"
    db = Database(url)
    db.migrate()
    zones = {item["zone"] for item in source.items}
    with db.write() as session:
        for zone in sorted(zones):
            z = source.host(next(i["id"] for i in source.items if i["zone"] == zone))["zone_detail"]
            session.add(m.Zone(**z))
        for lm in source.landmarks():
            session.add(
                m.Landmark(**lm, address="127.0.0.1:9000", public_key=lm["id"], created_at=source.now)
            )
        keys = ("hostname", "health", "verdict", "suspicious", "estimate", "verdict_time", "relocated")
        devices = [
            {
                "id": i["id"],
                "zone_id": i["zone"],
                "public_key": i["id"],
                "enrolled_at": source.now - 86400,
                "last_seen": i["last_seen"],
                "inventory": {},
                "peer_inconsistent": i["peer_inconsistent"],
            }
            | {k: i[k] for k in keys}
            for i in source.items
        ]
        session.execute(insert(m.Device), devices)
        accelerators = []
        for i in source.items:
            for a in source._accelerators(i):
                row = {k: v for k, v in a.items() if k not in ("metrics", "metrics_time")}
                accelerators.append(row | {"device_id": i["id"], "updated_at": source.now})
        session.execute(insert(m.Accelerator), accelerators)
        alerts = [
            {k: a[k] for k in ("kind", "subject", "device_id", "landmark_id", "severity", "message")}
            | {
                "details": a["details"] or {},
                "opened_at": a["opened_at"],
                "last_seen_at": a["last_seen_at"],
                "closed_at": a["closed_at"],
                "open_key": None if a["closed_at"] else f"{a['kind']}:{a['subject']}",
            }
            for a in source.alert_list
        ]
        session.execute(insert(m.Alert), alerts)
    settings = ServerSettings(db=url, admin_token=token, background=False)
    return create_app(ServerContext(settings=settings, db=db, check_record=check_probe_record))


def run(
    n_hosts: int, runs: int, browser: Any, kit: ModuleType, double: ModuleType, store: Path | None = None
) -> dict[str, Any]:
    source = double.InMemoryDashboardSource(n_hosts, now=time.time())
    located = sum(1 for item in source.items if item["estimate"])
    app = kit.build_app(source) if store is None else store_app(source, store, kit.ADMIN_TOKEN)
    server = kit.LiveServer(app)
    try:
        url = f"{server.url}/#token={kit.ADMIN_TOKEN}"
        first_load(browser, url, located)  # warm the server's one-time countries parse
        samples = [first_load(browser, url, located) for _ in range(runs)]
    finally:
        server.close()
    return {
        "source": "in-memory" if store is None else "SQLite store",
        "hosts": n_hosts,
        "located": located,
        "load_ms": statistics.median(s["load_ms"] for s in samples),
        "load_ms_max": max(s["load_ms"] for s in samples),
        "redraw_ms": statistics.median(s["redraw_ms"] for s in samples),
        "longest_task_ms": max(s["longest_task_ms"] for s in samples),
        "kib": statistics.median(s["bytes"] for s in samples) / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--baseline-hosts", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--store", action="store_true", help="also serve the hosts from a SQLite store")
    args = parser.parse_args()
    kit = _load("dashboard_bench_kit", ROOT / "tests" / "dashboard" / "conftest.py")
    double = kit.load_double()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = kit.launch_chromium(p)
        try:
            rows = [run(n, args.runs, browser, kit, double) for n in (args.baseline_hosts, args.hosts)]
            if args.store:
                with tempfile.TemporaryDirectory() as folder:
                    rows.append(run(args.hosts, args.runs, browser, kit, double, Path(folder)))
        finally:
            browser.close()
    print(f"first load of the map page, median of {args.runs} cold loads (chromium, headless, 1400x860)")
    header = ("source", 12), ("hosts", 7), ("located", 8), ("load_ms", 8), ("max_ms", 7), ("redraw_ms", 9)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'longest_task_ms':>15} {'KiB':>6}")
    for r in rows:
        print(
            f"{r['source']:>12} {r['hosts']:>7} {r['located']:>8} "
            f"{r['load_ms']:>8.0f} {r['load_ms_max']:>7.0f} "
            f"{r['redraw_ms']:>9.1f} {r['longest_task_ms']:>15.0f} {r['kib']:>6.0f}"
        )
    base, big = rows[:2]
    print(f"ratio {big['hosts']} / {base['hosts']} hosts: load x{big['load_ms'] / base['load_ms']:.2f}")
    if len(rows) > 2:
        ratio = rows[2]["load_ms"] / big["load_ms"]
        print(f"ratio SQLite store / in-memory, {big['hosts']} hosts: load x{ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
