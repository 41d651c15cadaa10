"""The web dashboard: a world map of the fleet, its health and its alerts, served by the server app.

Mount it with ``app.include_router(make_router(source_factory, check_admin))``;
it reads through the ``DashboardSource`` protocol only.
"""

from __future__ import annotations

from fleetproof.server.dashboard.routes import API_PREFIX, make_router
from fleetproof.server.dashboard.source import DashboardSource

__all__ = ["API_PREFIX", "DashboardSource", "make_router"]
