"""Optional OTLP/HTTP export of the same metrics, through the official OpenTelemetry SDK.

Imported only when ``otlp_endpoint`` is set (the SDK is an optional dependency:
``pip install 'fleetproof-gpu[otlp]'``). Each catalog metric becomes an observable
instrument whose callback reads the latest round, so the SDK's own export thread
never waits for a collection: a gauge as an observable gauge, a counter (``*_total``:
ECC, PCIe replays, NVLink errors, energy, throttle time) as an observable counter, which
the SDK sends as a cumulative monotonic sum, so a backend can take rates of it. Attribute
names match the Prometheus labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fleetproof.agent.export.metric_names import (
    ACCELERATOR_METRICS,
    HOST_METRICS,
    THROTTLE_DURATION,
    THROTTLE_DURATION_KEYS,
)
from fleetproof.agent.runner import AgentState
from fleetproof.errors import UnavailableError

__all__ = ["OtlpExporter"]


class OtlpExporter:
    """Registers observable instruments on a MeterProvider that exports to ``endpoint``.

    ``reader`` replaces the periodic OTLP reader (tests pass an in-memory one).
    """

    def __init__(
        self,
        state: AgentState,
        hostname: str,
        endpoint: str = "",
        interval_s: float = 60.0,
        reader: Any = None,
    ) -> None:
        try:
            from opentelemetry.metrics import CallbackOptions, Observation
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource
        except ImportError as exc:
            raise UnavailableError(
                "OTLP export needs the OpenTelemetry SDK: pip install 'fleetproof-gpu[otlp]'"
            ) from exc
        if reader is None:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            reader = PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=endpoint), export_interval_millis=int(interval_s * 1000)
            )
        self.state = state
        self.hostname = hostname
        resource = Resource.create({"service.name": "fleetproof-agent", "host.name": hostname})
        self.provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = self.provider.get_meter("fleetproof.agent")
        self._observation = Observation

        for key, metric in ACCELERATOR_METRICS.items():
            create = (
                meter.create_observable_counter if metric.type == "counter" else meter.create_observable_gauge
            )
            create(
                metric.name,
                callbacks=[self._accelerator_callback({key: None}, metric.scale)],
                description=metric.help,
            )
        meter.create_observable_counter(
            THROTTLE_DURATION.name,
            callbacks=[self._accelerator_callback(dict(THROTTLE_DURATION_KEYS), THROTTLE_DURATION.scale)],
            description=THROTTLE_DURATION.help,
        )
        for key, metric in HOST_METRICS.items():
            meter.create_observable_gauge(
                metric.name, callbacks=[self._host_callback(key, metric.scale)], description=metric.help
            )
        del CallbackOptions

    def _accelerator_callback(self, keys: dict[str, str | None], scale: float) -> Any:
        """Observations of the metric keys in ``keys``; a key mapped to a policy name adds it as
        the ``policy`` attribute (the throttle-time counters)."""

        def callback(options: Any) -> Iterable[Any]:
            with self.state.lock:
                devices = [d for s in self.state.snapshots for d in s.devices]
            for d in devices:
                for key, policy in keys.items():
                    if key not in d.metrics:
                        continue
                    attrs: dict[str, Any] = {
                        "hostname": self.hostname,
                        "vendor": d.info.vendor,
                        "index": d.info.index,
                        "uuid": d.info.uuid,
                        "model": d.info.model,
                    }
                    if policy is not None:
                        attrs["policy"] = policy
                    yield self._observation(d.metrics[key] * scale, attrs)

        return callback

    def _host_callback(self, key: str, scale: float) -> Any:
        def callback(options: Any) -> Iterable[Any]:
            with self.state.lock:
                merged = {k: v for s in self.state.snapshots for k, v in s.host_metrics.items()}
            for name, value in merged.items():
                base, _, rest = name.partition("[")
                if base == key:
                    attrs: dict[str, Any] = {"hostname": self.hostname}
                    if rest:
                        attrs["mountpoint"] = rest[:-1] if rest.endswith("]") else rest
                    yield self._observation(value * scale, attrs)

        return callback

    def shutdown(self) -> None:
        self.provider.shutdown()
