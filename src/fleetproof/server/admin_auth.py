"""Admin authentication: the one check that the API gate, the admin routes and the dashboard's JSON apply.

The admin token arrives as ``Authorization: Bearer <token>`` or, from the dashboard, in the
``fleetproof_admin`` cookie. The cookie counts for reads only (GET and HEAD): a browser
attaches cookies to cross-site form posts too, so a page elsewhere could otherwise make an
operator's browser rebaseline a host or close an alert. A write needs the header, which no
other site can make a browser send. Every caller goes through :func:`is_admin`, so that no
route family can forget the rule.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["ADMIN_COOKIE", "COOKIE_METHODS", "cookie_value", "is_admin", "require_admin"]

ADMIN_COOKIE = "fleetproof_admin"
COOKIE_METHODS = frozenset({"GET", "HEAD"})

# Only documents the scheme in the OpenAPI document: the check reads the raw header itself.
_bearer = HTTPBearer(auto_error=False)


def is_admin(admin_token: str, method: str, authorization: str | None, cookie: str | None) -> bool:
    """Whether a request with this method, ``Authorization`` header and admin cookie is the admin's.

    The token is compared in constant time; an empty configured token admits no one, and the
    cookie is looked at only for the methods in :data:`COOKIE_METHODS`.
    """
    expected = admin_token.encode()
    if not expected:
        return False
    presented: list[str] = []
    if authorization and authorization[:7].lower() == "bearer ":
        presented.append(authorization[7:].strip())
    if cookie and method.upper() in COOKIE_METHODS:
        presented.append(cookie)
    return any(secrets.compare_digest(p.encode(), expected) for p in presented)


def cookie_value(header: str, name: str = ADMIN_COOKIE) -> str | None:
    """The value of cookie ``name`` in a raw ``Cookie`` header (for the ASGI gate, which has no Request)."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def require_admin(admin_token: Callable[[], str]) -> Callable[..., str]:
    """A FastAPI dependency that answers 401 unless the request is the admin's (:func:`is_admin`).

    ``admin_token`` is read per request, so a context whose settings are replaced is honoured.
    """

    def dependency(
        request: Request, _creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> str:
        cookie = request.cookies.get(ADMIN_COOKIE)
        if not is_admin(admin_token(), request.method, request.headers.get("authorization"), cookie):
            raise HTTPException(status_code=401, detail="admin credentials required")
        return "admin"

    return dependency
