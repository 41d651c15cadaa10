"""What every request handler and background task shares: store, settings, clock, record check."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fleetproof.server.config import ServerSettings
from fleetproof.server.ingest import RecordCheck
from fleetproof.server.metrics import Metrics
from fleetproof.server.outage import StoreOutage
from fleetproof.server.store.db import Database

__all__ = ["ServerContext"]


@dataclass
class ServerContext:
    settings: ServerSettings
    db: Database
    check_record: RecordCheck
    clock: Callable[[], float] = time.time
    metrics: Metrics = field(default_factory=Metrics)
    # The location engine behind :class:`fleetproof.server.pipeline.Verifier`; None leaves the queue waiting.
    verifier: Any = None
    # Landmark vetting behind :class:`fleetproof.server.vetting.Vetter`; None keeps every landmark trusted.
    vetter: Any = None
    # Short-lived read caches of this process (e.g. a zone's peer fingerprints); never authoritative.
    cache: dict[Any, Any] = field(default_factory=dict)
    # Whether the store is known to be unreachable (logged once per outage).
    outage: StoreOutage = field(default_factory=StoreOutage)
