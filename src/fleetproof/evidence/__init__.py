"""Evidence bundles a third party can check without the fleet server.

- :mod:`.bundle` — the bundle's versioned wire model and :func:`read_bundle`;
- :mod:`.judging` — the one path from records to a verdict, shared with the server's pipeline;
- :mod:`.signed` — whose key must have signed each kind of record;
- :mod:`.verify` — :func:`verify_bundle`: every signature checked, every verdict recomputed;
- :mod:`.cli` — ``fleetproof evidence verify FILE``.

This package imports :mod:`fleetproof.geo`, :mod:`fleetproof.geodata` and
:mod:`fleetproof.probe`, never :mod:`fleetproof.server` (a test enforces it): what
checks the server must not be the server.
"""
