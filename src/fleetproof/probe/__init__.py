"""The measurement protocol: keys, landmarks, the prober, signed records, the mesh, delay emulation.

Modules (each documents its stable interface in its docstring):

- :mod:`.keys` — Ed25519 keys: generate, save (0600) and load, base64 public keys.
- :mod:`.wire` — the UDP packets and the session cryptography (signed handshake, keyed MAC per nonce).
- :mod:`.landmark` — ``LandmarkCore`` (sans-I/O state machine) and ``LandmarkServer`` (UDP, one thread).
- :mod:`.prober` — ``Prober`` with an injected ``ProbeTransport`` (``UdpTransport``, ``InMemoryNetwork``).
- :mod:`.records` — ``MeasurementRecord``, ``verify_record``, JSON-lines files, the landmark directory.
- :mod:`.record_check` — the record's limits, canonical bytes and signature check, and a strict parser,
  without pydantic (the agent's prober uses it; ``records`` re-exports it).
- :mod:`.directory` — the landmark directory ``DIR.csv`` (``LandmarkEntry``; re-exported by ``records``).
- :mod:`.mesh` — landmarks probing each other; the engine's ``a,b,rtt_ms`` mesh file.
- :mod:`.statement` — a landmark's signed position statement (id, position, key, time).
- :mod:`.netem` — delaying UDP relays that place an emulated host anywhere on Earth.
- :mod:`.attest` — the ``Attestor`` extension point (software, NVIDIA ``nvattest``).
- :mod:`.cli` — the ``keys``, ``landmark``, ``probe``, ``records``, ``mesh`` and ``netem`` commands.

Nothing is imported here, so ``import fleetproof.probe.cli`` stays cheap.
"""
