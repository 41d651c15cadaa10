"""Fixtures for the dashboard tests: the in-memory fleet, an app with the router, an admin token."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI, Header, HTTPException

from fleetproof.server.dashboard import make_router

ADMIN_TOKEN = "test-admin-token-5f2c"
NOW = 1_790_000_000.0


def load_double() -> ModuleType:
    """The test double lives beside the tests; load it by path (tests use importlib mode)."""
    name = "fleetproof_dashboard_fleet_double"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("fleet_double.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def check_admin(authorization: str | None = Header(default=None)) -> None:
    """The same contract as the server's admin check: ``Authorization: Bearer <token>`` or 401."""
    if authorization != f"Bearer {ADMIN_TOKEN}":
        raise HTTPException(
            status_code=401, detail="admin token required", headers={"WWW-Authenticate": "Bearer"}
        )


def build_app(source: Any, clock: Callable[[], float] | None = None) -> FastAPI:
    app = FastAPI()
    kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
    app.include_router(make_router(lambda: source, check_admin, **kwargs))
    return app


@pytest.fixture(name="build_app", scope="session")
def build_app_fixture() -> Callable[..., FastAPI]:
    return build_app


@pytest.fixture(scope="session")
def fleet_double() -> ModuleType:
    return load_double()


@pytest.fixture(scope="session")
def source(fleet_double: ModuleType) -> Any:
    return fleet_double.InMemoryDashboardSource(300, now=NOW)


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class LiveServer:
    """A uvicorn server on 127.0.0.1 and a free port, in a thread, stopped by ``close``."""

    def __init__(self, app: FastAPI) -> None:
        import socket
        import threading

        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the dashboard test server did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium through Playwright; never a downloaded browser."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def require_browser(chromium: str = CHROMIUM) -> None:
    """Skip without chromium, unless FLEETPROOF_REQUIRE_BROWSER=1 (CI), where that is a failure."""
    import os

    missing = None
    if not Path(chromium).exists():
        missing = f"{chromium} is missing (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "Python playwright is not installed"
    if missing is None:
        return
    if os.environ.get("FLEETPROOF_REQUIRE_BROWSER") == "1":
        pytest.fail(missing)
    pytest.skip(missing)


@pytest.fixture(scope="module")
def browser() -> Any:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page that fails its test on any script error or Content-Security-Policy violation."""
    context = browser.new_context(viewport={"width": 1400, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: "Content Security Policy" in msg.text and errors.append(msg.text))
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """Helpers for test modules (importlib mode: they cannot import conftest)."""
    return SimpleNamespace(
        ADMIN_TOKEN=ADMIN_TOKEN,
        LiveServer=LiveServer,
        check_admin=check_admin,
        build_app=build_app,
        launch_chromium=launch_chromium,
        require_browser=require_browser,
    )
