"""Optional OTLP/HTTP export of the same metrics, through the official OpenTelemetry SDK.

Imported only when ``otlp_endpoint`` is set (the SDK is an optional dependency:
``pip install 'fleetproof-gpu[otlp]'``). Each catalog metric becomes an observable
gauge whose callback reads the latest round, so the SDK's own export thread
never waits for a collection. Attribute names match the Prometheus labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fleetproof.agent.export.metric_names import ACCELERATOR_METRICS, HOST_METRICS
from fleetproof.agent.runner import AgentState
from fleetproof.errors import UnavailableError

__all__ = ["OtlpExporter"]


class OtlpExporter:
    """Registers observable gauges on a MeterProvider that exports to ``endpoint``.

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
            meter.create_observable_gauge(
                metric.name,
                callbacks=[self._accelerator_callback(key, metric.scale)],
                description=metric.help,
            )
        for key, metric in HOST_METRICS.items():
            meter.create_observable_gauge(
                metric.name, callbacks=[self._host_callback(key, metric.scale)], description=metric.help
            )
        del CallbackOptions

    def _accelerator_callback(self, key: str, scale: float) -> Any:
        def callback(options: Any) -> Iterable[Any]:
            with self.state.lock:
                devices = [d for s in self.state.snapshots for d in s.devices]
            for d in devices:
                if key in d.metrics:
                    attrs: dict[str, Any] = {
                        "hostname": self.hostname,
                        "vendor": d.info.vendor,
                        "index": d.info.index,
                        "uuid": d.info.uuid,
                        "model": d.info.model,
                    }
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
