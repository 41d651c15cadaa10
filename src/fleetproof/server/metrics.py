"""The server's own Prometheus metrics, in the text exposition format.

Counters live in the process (each server process is scraped on its own, as
Prometheus expects); gauges that describe the fleet are read from the store at
scrape time, so every process reports the same fleet.
"""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["Metrics"]

_HELP = {
    "fleetproof_server_requests_total": "HTTP requests answered, by method, route and status class.",
    "fleetproof_server_request_seconds_sum": "Total time spent answering requests, seconds.",
    "fleetproof_server_ingest_items_total": "Outbox items ingested, by kind and outcome.",
    "fleetproof_server_verdicts_total": "Verdicts computed, by verdict.",
    "fleetproof_server_webhook_deliveries_total": "Webhook delivery attempts, by outcome.",
}


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels
    )
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + value

    def render(
        self, gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]] | None = None
    ) -> str:
        lines: list[str] = []
        with self._lock:
            snapshot = {k: dict(v) for k, v in self._values.items()}
        for name in sorted(snapshot):
            lines.append(f"# HELP {name} {_HELP.get(name, name)}")
            lines.append(f"# TYPE {name} counter")
            lines.extend(f"{name}{_labels(k)} {v:g}" for k, v in sorted(snapshot[name].items()))
        for name, (help_text, series) in sorted((gauges or {}).items()):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} gauge")
            lines.extend(f"{name}{_labels(k)} {v:g}" for k, v in sorted(series.items()))
        return "\n".join(lines) + "\n"
