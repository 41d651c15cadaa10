"""The agent–server protocol: what both sides import, so that neither imports the other.

Modules::

    items     the ingest envelope: item kinds, the batch models, parsing a request body
    wire      the versioned payload models (telemetry, inventory, health events)
    health    health states and their order (worst-of, shared by checks and roll-up)
    reqsign   Ed25519 request signatures of enrolled agents (canonical string, headers, checks)
    enroll    enrollment: the token digest, the attestation challenge it yields, the evidence body

Nothing here imports from ``fleetproof.agent`` or ``fleetproof.server``.
"""
