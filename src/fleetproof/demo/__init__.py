"""``fleetproof demo``: a whole fleet on one machine (server, landmarks, agents, emulated geography)."""
