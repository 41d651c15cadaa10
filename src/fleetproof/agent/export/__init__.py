"""Local exporters: Prometheus text and JSON over HTTP, and optional OTLP/HTTP."""
