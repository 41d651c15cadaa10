"""The narrow read interface the dashboard needs from the server's store.

The dashboard never touches the store directly: it asks a ``DashboardSource``.
That keeps the page and its JSON API testable against an in-memory double and
lets any store backend serve it by implementing seven read methods. Every
method returns plain JSON-able values (dicts, lists, str, int, float, bool,
None) shaped exactly as the ``TypedDict`` classes below say, so the router can
hand them to the browser without translating.

Conventions shared by every shape:

- times are Unix seconds (float), named ``time``, ``last_seen`` or ``*_at``;
- positions are WGS84 degrees, ``lat`` in [-90, 90], ``lon`` in [-180, 180];
- every number a person sees carries its unit in its name (``radius_km``, ``rtt_ms``);
- country codes are ISO 3166-1 alpha-2 (``"DE"``).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

__all__ = [
    "HEALTH_STATES",
    "VERDICTS",
    "AcceleratorInfo",
    "Alert",
    "DashboardSource",
    "Estimate",
    "HealthComponent",
    "HealthState",
    "HostDetail",
    "HostInventoryInfo",
    "HostItem",
    "Landmark",
    "MapPoint",
    "MeshStats",
    "Site",
    "Summary",
    "TelemetrySeries",
    "Verdict",
    "VerdictRecord",
    "ZoneInfo",
]

Verdict = Literal["proven", "consistent", "suspicious", "violation", "unknown"]
"""Location verdict of a host; ``unknown`` until the first verdict is computed."""

HealthState = Literal["healthy", "degraded", "unhealthy", "initializing", "unknown"]
"""Agent health states plus ``unknown`` for a host or device never reported on."""

VERDICTS: tuple[Verdict, ...] = ("proven", "consistent", "suspicious", "violation", "unknown")
HEALTH_STATES: tuple[HealthState, ...] = ("healthy", "degraded", "unhealthy", "initializing", "unknown")


class Summary(TypedDict):
    """Fleet-wide counts for the overview page; every dict maps a label to a count."""

    hosts_total: int
    hosts_by_verdict: dict[str, int]  # keys from VERDICTS
    hosts_by_health: dict[str, int]  # keys from HEALTH_STATES (worst component of the host)
    hosts_by_zone: dict[str, int]  # zone id -> hosts; hosts without a zone under ""
    accelerators_total: int
    accelerators_by_health: dict[str, int]  # keys from HEALTH_STATES
    accelerators_by_vendor: dict[str, int]  # "nvidia", "amd", "gaudi", "ascend", "simulated", ...
    open_alerts: int


class Estimate(TypedDict):
    """Where the engine places a host: centre, uncertainty radius and likeliest country."""

    lat: float
    lon: float
    radius_km: float
    country: str | None  # alpha-2 of the likeliest country, None when off-shore or unknown
    country_p: float | None  # probability of ``country`` in [0, 1]


class HostItem(TypedDict):
    """One row of the hosts table (``DashboardSource.hosts``)."""

    id: str
    zone: str | None
    verdict: Verdict
    suspicious: bool  # the engine flagged the measurements themselves (e.g. impossibly fast replies)
    estimate: Estimate | None
    health: HealthState  # worst current component state of the host and its accelerators
    hostname: str | None
    last_seen: float | None


class MapPoint(TypedDict):
    """One host on the world map: its estimate's centre (None when not located yet)."""

    id: str
    lat: float | None
    lon: float | None
    verdict: Verdict
    suspicious: bool
    health: HealthState


class Site(TypedDict):
    lat: float
    lon: float


class ZoneInfo(TypedDict):
    id: str
    allowed_countries: list[str]  # alpha-2 codes
    site: Site | None  # the declared site of the zone, when it has one


class HostInventoryInfo(TypedDict):
    """The host part of the latest inventory report (``fleetproof.wire.HostInventory`` plus time)."""

    hostname: str | None
    os: str | None
    kernel: str | None
    cpu_model: str | None
    cpu_count: int | None
    memory_total_bytes: int | None
    reported_at: float | None


class AcceleratorInfo(TypedDict):
    """One accelerator from the latest inventory (``fleetproof.wire.AcceleratorInventory``) plus health."""

    uuid: str
    index: int
    vendor: str
    model: str
    serial: str | None
    bus_id: str | None
    driver_version: str | None
    firmware_version: str | None
    memory_total_bytes: int | None
    health: HealthState  # worst latest component state for this device


class HealthComponent(TypedDict):
    """Latest ``fleetproof.wire.HealthEvent`` per (component, device): what, why and what to do."""

    component: str
    device_uuid: str | None  # None for host-wide components
    state: HealthState
    reason: str
    suggested_action: str | None
    time: float


class VerdictRecord(TypedDict):
    """One verdict of the host's history, newest first in ``HostDetail.verdicts``.

    ``evidence`` is a list of flat objects whose values are str, number, bool
    or None, e.g. ``{"landmark_id": "fra1", "rtt_ms": 4.1, "max_distance_km":
    410.0, "finding": "inside"}``; the page shows them as a table, one column
    per key, so the engine may add keys without a dashboard change.
    """

    time: float
    verdict: Verdict
    suspicious: bool
    summary: str  # one sentence a person can read
    estimate: Estimate | None
    evidence: list[dict[str, Any]]


class HostDetail(TypedDict):
    """Everything the host page shows, in one answer."""

    id: str
    hostname: str | None
    verdict: Verdict
    suspicious: bool
    health: HealthState
    last_seen: float | None
    estimate: Estimate | None
    inventory: HostInventoryInfo | None
    accelerators: list[AcceleratorInfo]
    health_components: list[HealthComponent]
    verdicts: list[VerdictRecord]  # newest first; the router shows the first 50
    region: dict[str, Any] | None  # latest feasible region: GeoJSON Polygon or MultiPolygon, [lon, lat]
    zone: ZoneInfo | None
    metrics: list[str]  # accelerator metric names with stored samples, e.g. "temperature_c", "power_w"


class TelemetrySeries(TypedDict):
    """One accelerator's samples of one metric: ``points`` are ``[time, value]`` pairs, oldest first."""

    uuid: str
    index: int
    points: list[list[float]]


class Alert(TypedDict):
    id: str
    time: float
    host_id: str | None  # None for fleet-wide alerts (e.g. a landmark quarantined)
    kind: str  # e.g. "location_violation", "health_unhealthy", "landmark_quarantined"
    severity: Literal["info", "warning", "critical"]
    message: str
    open: bool
    resolved_at: float | None


class MeshStats(TypedDict):
    """How a landmark fares in the landmark mesh (landmarks measuring each other)."""

    peers: int  # other landmarks it measures
    measured_pairs: int  # peers with a recent measurement
    median_rtt_ms: float | None
    violations: int  # pairs whose RTT is faster than the distance allows
    last_round: float | None  # time of the latest mesh round that included it


class Landmark(TypedDict):
    id: str
    lat: float
    lon: float
    country: str | None
    trusted: bool
    quarantine_reason: str | None  # why the vetting quarantined it; None when not quarantined
    mesh: MeshStats


@runtime_checkable
class DashboardSource(Protocol):
    """Read access to the fleet for the dashboard; implemented by the store as ``StoreDashboardSource``.

    Paging is done by the source so that 10,000 hosts never cross the
    process boundary for one table page. ``hosts`` filters combine with AND;
    ``q`` is a case-insensitive substring of the host id or hostname.
    Ordering is stable: hosts by id, alerts newest first, landmarks by id.
    """

    def summary(self) -> Summary: ...

    def hosts(
        self,
        offset: int,
        limit: int,
        verdict: str | None = None,
        zone: str | None = None,
        health: str | None = None,
        q: str | None = None,
    ) -> tuple[int, list[HostItem]]: ...

    def map_points(self) -> list[MapPoint]: ...

    def host(self, host_id: str) -> HostDetail | None: ...

    def telemetry(self, host_id: str, metric: str, since: float) -> list[TelemetrySeries]: ...

    def alerts(self, open_only: bool, offset: int, limit: int) -> tuple[int, list[Alert]]: ...

    def landmarks(self) -> list[Landmark]: ...
