"""fleetproof: open, self-hosted, vendor-neutral accelerator fleet telemetry and location verification.

The package is split by part, one folder each:

- ``geo``: the pure location-verification engine (no I/O, no clock, no randomness);
- ``batch``: the batch ``fleetproof verify`` command (CSV in, JSON lines and maps out);
- ``probe``: keys, the landmark daemon, the prober and signed measurement records;
- ``agent``: the host agent (collectors, health checks, exporters, durable outbox);
- ``server``: the fleet server (API, store, verdict pipeline, alerts, audit log, dashboard).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
