"""The agent–server protocol: what both sides import, so that neither imports the other.

Modules::

    reqsign   Ed25519 request signatures of enrolled agents (canonical string, headers, checks)

The item payloads themselves are the versioned models of :mod:`fleetproof.wire`.
"""
