"""Schemathesis against the server's own ``/openapi.json``: no request it can generate gets a 5xx.

Every operation is fuzzed twice, as the admin and anonymously (so the auth gate and
the handlers both see the generated requests), with a bounded number of examples
(``FLEETPROOF_FUZZ_EXAMPLES``, default 20) so CI stays quick. The operations are
driven through Hypothesis directly rather than schemathesis' pytest plugin.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("FLEETPROOF_FUZZ_EXAMPLES", "20"))
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _fuzz(operation: object, headers: dict[str, str], anonymous: bool) -> None:
    @given(case=operation.as_strategy())  # type: ignore[attr-defined]
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        if anonymous and case.path.startswith("/api/") and case.method.upper() in WRITES:
            assert response.status_code in (401, 403), (case.method, case.path, response.status_code)

    run()


def _fuzz_all(url: str, headers: dict[str, str], *, anonymous: bool) -> None:
    from conftest import FakeClock, make_ctx

    from fleetproof.server.app import create_app

    ctx = make_ctx(url, FakeClock())
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    try:
        for operation in operations:
            _fuzz(operation, headers, anonymous=anonymous)
    finally:
        ctx.db.dispose()


def test_no_server_errors_as_admin(db_url: str) -> None:
    """On both stores: PostgreSQL refuses values SQLite keeps (NUL bytes), which must still be a 4xx."""
    _fuzz_all(db_url, {"Authorization": "Bearer test-admin-token"}, anonymous=False)


def test_no_server_errors_anonymous(tmp_path: Path) -> None:
    _fuzz_all(f"sqlite:///{tmp_path / 'store.db'}", {}, anonymous=True)
