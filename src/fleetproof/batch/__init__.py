"""Batch verification: ``fleetproof verify`` reads CSV files, runs the engine, writes JSON lines and maps."""
