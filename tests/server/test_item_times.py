"""Item times outside a plausible window are refused one by one, with the reason.

Plausible: not older than raw retention, not before the store's first start (less the
replay window for clock slack), not further ahead than the replay window. −1e308 and
1e308 are finite numbers and used to be accepted.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from server_helpers import enroll, health_item, signed, telemetry_item

from fleetproof.server.store.models import ServerMeta

DAY = 86400.0


def _with_time(item: dict[str, Any], *, created_at: float | None = None, payload_time: float | None = None):
    item = copy.deepcopy(item)
    if created_at is not None:
        item["created_at"] = created_at
    if payload_time is not None:
        item["payload"]["time"] = payload_time
    return item


@pytest.mark.parametrize(
    ("created_at", "payload_time", "where", "why"),
    [
        (-1e308, None, "created_at", "older"),
        (1e308, None, "created_at", "ahead"),
        (None, -1e308, "payload", "older"),
        (None, 1e308, "payload", "ahead"),
        (None, -8 * DAY, "payload", "older"),  # beyond raw retention (7 days)
        (-8 * DAY, None, "created_at", "older"),
        (None, 301.0, "payload", "ahead"),  # beyond the replay window
    ],
)
def test_an_implausible_time_is_refused_per_item(
    client: Any, clock: Any, created_at: float | None, payload_time: float | None, where: str, why: str
) -> None:
    dev = enroll(client)
    good = telemetry_item(clock.now)
    offset = lambda v: v if v is None or abs(v) > 1e300 else clock.now + v  # noqa: E731
    bad = _with_time(
        telemetry_item(clock.now), created_at=offset(created_at), payload_time=offset(payload_time)
    )
    r = signed(client, dev, "/api/v1/ingest", {"items": [good, bad]}, now=clock.now)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["accepted"] == 1
    assert [x["id"] for x in answer["rejected"]] == [bad["id"]]
    assert where in answer["rejected"][0]["error"] and why in answer["rejected"][0]["error"]


def test_items_from_before_the_first_start_are_refused(client: Any, ctx: Any, clock: Any) -> None:
    dev = enroll(client)
    with ctx.db.write() as session:
        session.get(ServerMeta, "first_start").value = clock.now - DAY
    ctx.cache.pop("first_start", None)
    before = health_item(clock.now - DAY - 3600, "healthy", None)
    slack = health_item(clock.now - DAY - 60, "healthy", None)  # within the replay window of it
    after = health_item(clock.now - 3600, "healthy", None)
    r = signed(client, dev, "/api/v1/ingest", {"items": [before, slack, after]}, now=clock.now)
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["rejected"]] == [before["id"]]
    assert r.json()["accepted"] == 2
