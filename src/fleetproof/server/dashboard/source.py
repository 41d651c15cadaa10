"""The narrow read interface the dashboard needs from the server's store.

The dashboard never touches the store directly: it asks a ``DashboardSource``.
That keeps the page and its JSON API testable against an in-memory double and
lets any store backend serve it by implementing seven read methods. Every
method returns plain JSON-able values (dicts, lists, str, int, float, bool,
None) with at least the keys the ``TypedDict`` classes below name, so the
router can hand them to the browser without translating. The shapes are the
server's own read views (``fleetproof.server.queries``, ``alerts``, ``admin``),
which its admin API serves too; ``fleetproof.server.dashboard.contract`` checks
a source against them.

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
    "DisplayVerdict",
    "Estimate",
    "HealthComponent",
    "HealthState",
    "HostDetail",
    "HostInventory",
    "HostItem",
    "InventoryInfo",
    "KeyAttestation",
    "Landmark",
    "MapPoint",
    "MeshStats",
    "Summary",
    "TelemetrySeries",
    "Verdict",
    "VerdictRecord",
    "ZoneInfo",
    "display_verdict",
]

Verdict = Literal["proven", "consistent", "violation", "unknown"]
"""The engine's location verdict; ``None`` in the store until a host is first judged."""

HealthState = Literal["healthy", "degraded", "unhealthy", "initializing", "unknown"]
"""Agent health states plus ``unknown`` for a host or device never reported on."""

DisplayVerdict = Literal["proven", "consistent", "suspicious", "violation", "unknown"]
"""What the map colours by: the verdict, except that measurements flagged as suspicious
turn a non-violation into ``suspicious`` and a host never judged shows as ``unknown``."""

VERDICTS: tuple[DisplayVerdict, ...] = ("proven", "consistent", "suspicious", "violation", "unknown")
HEALTH_STATES: tuple[HealthState, ...] = ("healthy", "degraded", "unhealthy", "initializing", "unknown")


def display_verdict(verdict: str | None, suspicious: bool) -> DisplayVerdict:
    """The colour class of a host: violation wins, then suspicious, then the verdict itself."""
    if verdict == "violation":
        return "violation"
    if suspicious:
        return "suspicious"
    if verdict in ("proven", "consistent"):
        return verdict  # type: ignore[return-value]
    return "unknown"


class Summary(TypedDict):
    """Fleet-wide counts for the overview page; every dict maps a label to a count.

    A host without a verdict yet, or without a zone, is counted under ``"none"``.
    """

    hosts: int
    hosts_by_verdict: dict[str, int]
    hosts_by_health: dict[str, int]
    hosts_by_zone: dict[str, int]
    hosts_suspicious: int
    accelerators: int
    accelerators_by_health: dict[str, int]
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
    """One row of the hosts table (``DashboardSource.hosts``); also the admin API's device item."""

    id: str
    zone: str | None
    hostname: str | None
    verdict: Verdict | None
    suspicious: bool  # the measurements themselves look manipulated (e.g. impossibly fast replies)
    estimate: Estimate | None
    health: str  # worst current component state: one of HEALTH_STATES
    last_seen: float | None
    verdict_time: float | None
    relocated: bool  # RTTs moved away from the host's baseline
    peer_inconsistent: bool  # RTTs disagree with hosts claimed at the same site
    accelerator_count: int


class MapPoint(TypedDict):
    """One host on the world map: its estimate's centre (None, or left out, when not located)."""

    id: str
    lat: float | None
    lon: float | None
    verdict: Verdict | None
    suspicious: bool
    health: str


class ZoneInfo(TypedDict):
    """The zone a host is claimed in: allowed countries (alpha-2) and, optionally, an allowed region."""

    id: str
    description: str | None
    site_name: str | None
    site_lat: float | None
    site_lon: float | None
    allowed_countries: list[str]
    allowed_region: dict[str, Any] | None  # GeoJSON Polygon or MultiPolygon, [lon, lat]
    created_at: float | None


class HostInventory(TypedDict, total=False):
    """``fleetproof.protocol.wire.HostInventory`` as stored (every key may be missing in older reports)."""

    hostname: str
    os: str | None
    kernel: str | None
    cpu_model: str | None
    cpu_count: int | None
    memory_total_bytes: int | None


class InventoryInfo(TypedDict):
    """The latest ``fleetproof.protocol.wire.InventoryReport`` of the host, as the agent sent it."""

    time: float
    host: HostInventory
    accelerators: list[dict[str, Any]]


class AcceleratorInfo(TypedDict):
    """One accelerator (``protocol.wire.AcceleratorInventory``) with its health and latest metrics."""

    uuid: str
    index: int
    vendor: str
    model: str
    serial: str | None
    bus_id: str | None
    driver_version: str | None
    firmware_version: str | None
    memory_total_bytes: int | None
    health: str  # worst latest component state for this device
    metrics: dict[str, float]  # latest value per metric name (with unit): the charts offered
    metrics_time: float | None


class HealthComponent(TypedDict):
    """Latest ``fleetproof.protocol.wire.HealthEvent`` per (component, device): what, why and what to do."""

    component: str
    accelerator_uuid: str | None  # None for host-wide components
    state: str  # one of HEALTH_STATES
    reason: str
    suggested_action: str | None
    time: float


class VerdictRecord(TypedDict):
    """One verdict of the host's history, newest first in ``HostDetail.verdicts``.

    ``evidence`` is the engine's evidence object as stored, e.g. ``{"landmarks_used":
    6, "tightest": [{"landmark": "fra", "rtt_ms": 0.66, "bound_km": 65.5}], "claim":
    {"kind": "countries", "countries": ["JP"]}, "contradicting": [...], "rtts_ms":
    {"fra": 0.66}}``. The page renders any such object (numbers and strings as a
    list, lists of objects as tables, objects nested), and draws a line on the map
    to every landmark named by a ``landmark`` or ``landmark_id`` key in it, red
    under ``contradicting``.
    """

    time: float
    verdict: Verdict
    suspicious: bool
    estimate: Estimate | None
    evidence: dict[str, Any]
    relocated: bool
    peer_inconsistent: bool


class KeyAttestation(TypedDict):
    """The device key's attestation at enrollment: whose evidence, and whether hardware vouches."""

    attestor: str
    hardware_bound: bool


class HostDetail(HostItem):
    """Everything the host page shows, in one answer (the list item plus the rest)."""

    inventory: InventoryInfo | None
    accelerators: list[AcceleratorInfo]
    host_metrics: dict[str, float]
    health_components: list[HealthComponent]
    verdicts: list[VerdictRecord]  # newest first; the router shows the first 50
    region: dict[str, Any] | None  # latest feasible region: GeoJSON Polygon or MultiPolygon, [lon, lat]
    zone_detail: ZoneInfo | None
    key_attestation: KeyAttestation | None  # None: enrolled without attestation


class TelemetrySeries(TypedDict):
    """One accelerator's samples of one metric, oldest first; index -1 is the host itself."""

    uuid: str
    index: int
    points: list[list[float]]  # [time, value] pairs


class Alert(TypedDict):
    id: int | str
    kind: str  # e.g. "location_violation", "accelerator_unhealthy", "landmark_quarantined"
    subject: str  # what the alert is about: a host id, "host/accelerator uuid", a landmark id
    device_id: str | None
    landmark_id: str | None
    severity: str  # "info", "warning" or "critical"
    message: str
    details: dict[str, Any] | None
    opened_at: float
    last_seen_at: float | None
    closed_at: float | None
    open: bool


class MeshStats(TypedDict, total=False):
    """How a landmark fares in the landmark mesh; empty until the first mesh round."""

    pairs: int  # peers with a recent measurement to this landmark
    median_rtt_ms: float | None
    vetted_at: float | None
    conflicts: int  # peers whose RTT is faster than the claimed distances allow


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
    ``verdict="none"`` selects hosts not judged yet; ``q`` is a case-insensitive
    substring of the host id or hostname. Ordering is stable: hosts by id,
    alerts newest first, landmarks by id. Answers may carry more keys than the
    shapes name; the dashboard ignores them.
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
