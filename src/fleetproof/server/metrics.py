"""The server's own Prometheus metrics, rendered by ``prometheus_client``.

Counters and the request-latency histogram live in the process (each server process is
scraped on its own, as Prometheus expects); gauges that describe the fleet are read from the
store at scrape time, so every process reports the same fleet. The ``process_*`` families of
the running process come with them.

Counters whose label values are known in advance (verdicts, ingest outcomes) exist at 0 from
the first scrape, so ``increase()`` sees their first event. Values are kept here and handed
to ``prometheus_client`` as metric families at scrape time (rather than as its instrumented
``Counter`` objects) so that one ``Metrics`` per app needs no global registry and writes no
``_created`` series.
"""

from __future__ import annotations

import bisect
import gzip
import threading
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Series = dict[tuple[tuple[str, str], ...], float]
Gauges = dict[str, tuple[str, Series]]

#: Counter name -> (help, label names).
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fleetproof_server_requests_total": (
        "HTTP requests answered, by method, route and status class.",
        ("method", "route", "status"),
    ),
    "fleetproof_server_ingest_items_total": (
        "Outbox items ingested, by kind and outcome.",
        ("kind", "outcome"),
    ),
    "fleetproof_server_verdicts_total": ("Verdicts computed, by verdict.", ("verdict",)),
    "fleetproof_server_webhook_deliveries_total": ("Webhook delivery attempts, by outcome.", ("outcome",)),
}
#: Series that exist at 0 before their first event.
_ZERO: dict[str, list[dict[str, str]]] = {
    "fleetproof_server_verdicts_total": [
        {"verdict": v} for v in ("violation", "proven", "consistent", "unknown")
    ],
    "fleetproof_server_ingest_items_total": [
        *({"kind": k, "outcome": "accepted"} for k in ("telemetry", "inventory", "health", "probe_record")),
        {"kind": "any", "outcome": "duplicate"},
        {"kind": "any", "outcome": "rejected"},
    ],
}
LATENCY = "fleetproof_server_request_duration_seconds"
LATENCY_HELP = "Time to answer an HTTP request, by method and route."
#: Upper bounds of the latency buckets, seconds (an ingest of a full batch takes tens of ms).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Key = tuple[tuple[str, str], ...]


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Key, float]] = defaultdict(dict)
        self._latency: dict[Key, _Histogram] = {}
        for name, series in _ZERO.items():
            for labels in series:
                self._values[name][tuple(sorted(labels.items()))] = 0.0
        self._process = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._process)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + value

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and put its duration into the latency histogram."""
        self.inc("fleetproof_server_requests_total", method=method, route=route, status=f"{status // 100}xx")
        key = (("method", method), ("route", route))
        with self._lock:
            hist = self._latency.get(key)
            if hist is None:
                hist = self._latency[key] = _Histogram()
            hist.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            hist.sum += seconds

    def _families(self, gauges: Gauges | None) -> Iterator[Metric]:
        with self._lock:
            values = {k: dict(v) for k, v in self._values.items()}
            latency = {k: (list(h.counts), h.sum) for k, h in self._latency.items()}
        for name in sorted(values):
            help_text, label_names = COUNTERS.get(name, (name, ()))
            yield _family(CounterMetricFamily, name, help_text, label_names, values[name])
        hist = HistogramMetricFamily(LATENCY, LATENCY_HELP, labels=["method", "route"])
        for key, (counts, total) in sorted(latency.items()):
            running, buckets = 0, []
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                running += count
                buckets.append((_bound(bound), float(running)))
            hist.add_metric([v for _, v in key], buckets, total)
        yield hist
        for name, (help_text, series) in sorted((gauges or {}).items()):
            yield _family(GaugeMetricFamily, name, help_text, (), series)

    def render(self, gauges: Gauges | None = None) -> str:
        """The whole exposition: counters, the latency histogram, ``gauges`` and ``process_*``."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collect(self._families(gauges)))
        return (generate_latest(registry) + generate_latest(self._process)).decode("utf-8")

    def exposition(self, gauges: Gauges | None, accept_encoding: str = "") -> tuple[bytes, dict[str, str]]:
        """The body and headers of a ``/metrics`` answer, gzip-compressed when the scraper asks."""
        body = self.render(gauges).encode("utf-8")
        headers = {"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"}
        if "gzip" in accept_encoding.lower() and "gzip;q=0" not in accept_encoding.replace(" ", "").lower():
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        return body, headers


class _Collect:
    def __init__(self, families: Iterator[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


def _family(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    help_text: str,
    label_names: tuple[str, ...],
    series: dict[Key, float],
) -> Metric:
    """A family whose label names are ``label_names``, or those of its series (the same for all)."""
    names = list(label_names) or sorted({k for key in series for k, _ in key})
    family = kind(name, help_text, labels=names)
    for key, value in sorted(series.items()):
        labels = dict(key)
        family.add_metric([labels.get(n, "") for n in names], value)
    return family
