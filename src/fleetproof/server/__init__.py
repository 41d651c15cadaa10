"""The fleet server: API, store, verdict pipeline, alerts, audit log (the dashboard lives in ``dashboard/``).

Modules, one concern each::

    config        ServerSettings: (name, default, help) table, FLEETPROOF_* environment
    store/        SQLAlchemy models, Database (SQLite WAL single writer | PostgreSQL), upsert; migrations/
    (the ingest envelope, payload models, health order and request signatures live in
    fleetproof.protocol, shared with the agent)
    app           FastAPI factory: auth gate before bodies are read, error mapping, /metrics
    admin_auth    the one admin check (bearer header; the dashboard cookie for reads only)
    api_agent     enroll, signed ingest, landmarks for the prober
    api_admin     devices, zones, tokens, landmarks, mesh, alerts, audit, reports
    ingest        outbox items → validated, de-duplicated rows, stored per kind
    health_rollup current health per component → accelerator and host state, unhealthy alerts
    records_check landmark signature and device key of every probe record
    pipeline      verdict queue → engine (via the Verifier seam) → verdict, relocation, peers, alerts
    engine        the geo engine behind the Verifier and Vetter seams
    fingerprint   RTT fingerprints compared with a baseline or with peers
    vetting       landmark mesh storage, statistics and quarantine
    alerts        de-duplicated alerts and webhook delivery with backoff
    audit         hash-chained audit log: append, verify, export
    reports       inventory and compliance per zone (CSV, JSON)
    retention     raw telemetry folded into rollups
    maintenance   background work of a process (verdicts, silent hosts, webhooks, retention)
    queries, dashboard_data   read-side views for the API and the dashboard
    cli           ``fleetproof server …`` and ``fleetproof audit …``
"""
