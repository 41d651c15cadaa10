"""The agent–server protocol: what both sides import, so that neither imports the other.

Modules::

    kinds     the item kinds (no pydantic: the agent names them)
    items     the ingest envelope: the batch models, parsing a request body
    wire      the versioned payload models (telemetry, inventory, health events)
    wire_plain  the same payloads as plain dataclasses, for the agent (no pydantic)
    health    health states and their order (worst-of, shared by checks and roll-up)
    curve25519  Ed25519 keys and signatures, X25519 key agreement, the PEM key form (libsodium)
    reqsign   Ed25519 request signatures of enrolled agents (canonical string, headers, checks)
    enroll    enrollment: the token digest, the attestation challenge it yields, the evidence body

Nothing here imports from ``fleetproof.agent`` or ``fleetproof.server``.
"""
