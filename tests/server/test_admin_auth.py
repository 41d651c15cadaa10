"""One admin check for every route family: the bearer header always, the cookie for reads only.

Pinned twice: through the whole application (the gate in front of ``/api/`` and the route
dependencies), and with the gate taken out, so that each family's own dependency is seen to
apply the read-only cookie rule and not merely lean on the gate.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fleetproof.server.admin_auth import ADMIN_COOKIE, COOKIE_METHODS, cookie_value, is_admin
from fleetproof.server.app import AGENT_PATHS, AuthGate, create_app

TOKEN = "test-admin-token"
DASHBOARD = "/api/v1/dashboard"


@pytest.mark.parametrize(
    ("method", "authorization", "cookie", "expected"),
    [
        ("GET", f"Bearer {TOKEN}", None, True),
        ("POST", f"bearer  {TOKEN} ", None, True),
        ("DELETE", f"Bearer {TOKEN}", None, True),
        ("GET", None, TOKEN, True),
        ("HEAD", None, TOKEN, True),
        ("get", None, TOKEN, True),
        ("POST", None, TOKEN, False),
        ("PUT", None, TOKEN, False),
        ("DELETE", None, TOKEN, False),
        ("PATCH", None, TOKEN, False),
        ("GET", "Bearer nope", None, False),
        ("GET", f"Basic {TOKEN}", None, False),
        ("GET", None, "nope", False),
        ("GET", None, None, False),
    ],
)
def test_is_admin(method: str, authorization: str | None, cookie: str | None, expected: bool) -> None:
    assert is_admin(TOKEN, method, authorization, cookie) is expected


def test_an_empty_admin_token_admits_no_one() -> None:
    assert not is_admin("", "GET", "Bearer ", "")
    assert not is_admin("", "GET", "Bearer x", "x")


def test_cookie_value() -> None:
    assert cookie_value(f"a=1; {ADMIN_COOKIE}={TOKEN}; b=2") == TOKEN
    assert cookie_value("a=1; b=2") is None
    assert cookie_value("") is None


def _routes(app: Any) -> list[tuple[str, str]]:
    """(method, path with its parameters filled in) of every admin and dashboard JSON route."""
    found = []
    for template, operations in app.openapi()["paths"].items():
        if not template.startswith("/api/") or template in AGENT_PATHS:
            continue
        path = re.sub(r"\{[^}]+\}", "1", template).replace("/reports/1", "/reports/inventory")
        found += [(method.upper(), path) for method in sorted(operations)]
    assert len(found) > 20, found  # the document lists them all
    return found


def _family(path: str) -> str:
    return "dashboard" if path.startswith(DASHBOARD) else "admin"


@pytest.fixture(params=["with gate", "without gate"])
def any_client(request: pytest.FixtureRequest, ctx: Any) -> Iterator[TestClient]:
    app = create_app(ctx)
    if request.param == "without gate":
        app.user_middleware = [m for m in app.user_middleware if m.cls is not AuthGate]
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_every_family_has_reads_and_the_admin_api_writes(ctx: Any) -> None:
    routes = _routes(create_app(ctx))
    reads = {_family(p) for m, p in routes if m in COOKIE_METHODS}
    writes = {_family(p) for m, p in routes if m not in COOKIE_METHODS}
    assert reads == {"admin", "dashboard"}
    assert "admin" in writes


def test_the_cookie_opens_reads_and_never_writes(any_client: TestClient) -> None:
    for method, path in _routes(any_client.app):
        any_client.cookies.clear()
        anonymous = any_client.request(method, path, json={})
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        any_client.cookies.set(ADMIN_COOKIE, TOKEN)
        r = any_client.request(method, path, json={})
        if method in COOKIE_METHODS:
            assert r.status_code != 401, (method, path, r.text)
        else:
            assert r.status_code == 401, (method, path, r.status_code, r.text)
        any_client.cookies.set(ADMIN_COOKIE, "nope")
        assert any_client.request(method, path, json={}).status_code == 401, (method, path)
    any_client.cookies.clear()


def test_the_bearer_header_opens_every_route(any_client: TestClient) -> None:
    for method, path in _routes(any_client.app):
        good = any_client.request(method, path, json={}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code != 401, (method, path, good.text)
        bad = any_client.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401, (method, path)


def test_a_cookie_write_is_refused_by_the_gate_before_routing(client: Any) -> None:
    """Unknown ``/api/`` paths too: the gate answers before a route (or a 404/405) is chosen."""
    client.cookies.set(ADMIN_COOKIE, TOKEN)
    assert client.post("/api/v1/no-such-route", json={}).status_code == 401
    assert client.post(f"{DASHBOARD}/summary", json={}).status_code == 401
    assert client.get("/api/v1/no-such-route").status_code == 404
    client.cookies.clear()


def test_a_cookie_write_changes_nothing(client: Any) -> None:
    from server_helpers import ADMIN_HEADERS

    client.cookies.set(ADMIN_COOKIE, TOKEN)
    r = client.post("/api/v1/zones", json={"id": "z", "allowed_countries": ["DE"]})
    assert r.status_code == 401
    client.cookies.clear()
    assert "z" not in [z["id"] for z in client.get("/api/v1/zones", headers=ADMIN_HEADERS).json()]
