"""The server's tables, as SQLAlchemy 2 declarative models.

One schema serves SQLite and PostgreSQL: times are Unix seconds in floats, free-form
documents are JSON, and every table an agent writes to carries ``(device_id, item_id)``
unique so that a re-delivered outbox item is recognised and dropped. The schema is
changed only through Alembic revisions in ``fleetproof/server/migrations``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Zone(Base):
    """A declared site plus the countries (ISO 3166-1 alpha-2) or region a host of it may be in."""

    __tablename__ = "zones"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    site_name: Mapped[str | None] = mapped_column(String(255))
    site_lat: Mapped[float | None] = mapped_column(Float)
    site_lon: Mapped[float | None] = mapped_column(Float)
    allowed_countries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    allowed_region: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    # The zone's own "k of the last n rounds" for the suspicious flag; None: the server's settings.
    suspicious_min_rounds: Mapped[int | None] = mapped_column(Integer)
    suspicious_window_rounds: Mapped[int | None] = mapped_column(Integer)


class EnrollmentToken(Base):
    """A one-time token; only its SHA-256 is kept, so a database dump cannot enroll anything."""

    __tablename__ = "enrollment_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float)
    device_id: Mapped[str | None] = mapped_column(String(64))


class Device(Base):
    """One enrolled host: its key, zone, and the latest of everything the dashboard shows."""

    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"), index=True)
    public_key: Mapped[str] = mapped_column(String(128), unique=True)
    hostname: Mapped[str] = mapped_column(String(255), index=True)
    enrolled_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float, index=True)
    inventory: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    health: Mapped[str] = mapped_column(String(16), default="initializing", index=True)
    verdict: Mapped[str | None] = mapped_column(String(32), index=True)
    suspicious: Mapped[bool] = mapped_column(Boolean, default=False)
    estimate: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verdict_time: Mapped[float | None] = mapped_column(Float)
    fingerprint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    relocated: Mapped[bool] = mapped_column(Boolean, default=False)
    peer_inconsistent: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Evidence binding the key, sent at enrollment (attestor, hardware_bound, nonce_hex, claims,
    #: raw) with its ``challenge_hex``; null for devices enrolled without attestation.
    attestation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Accelerator(Base):
    __tablename__ = "accelerators"
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    uuid: Mapped[str] = mapped_column(String(128), primary_key=True)
    index: Mapped[int] = mapped_column(Integer)
    vendor: Mapped[str] = mapped_column(String(32), index=True)
    model: Mapped[str] = mapped_column(String(128))
    serial: Mapped[str | None] = mapped_column(String(128))
    bus_id: Mapped[str | None] = mapped_column(String(64))
    driver_version: Mapped[str | None] = mapped_column(String(64))
    firmware_version: Mapped[str | None] = mapped_column(String(128))
    memory_total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    health: Mapped[str] = mapped_column(String(16), default="initializing")
    updated_at: Mapped[float] = mapped_column(Float)


class InventoryRecord(Base):
    """Every inventory report as received, so changes (a swapped card) can be traced."""

    __tablename__ = "inventory_reports"
    __table_args__ = (UniqueConstraint("device_id", "item_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    item_id: Mapped[str] = mapped_column(String(128))
    time: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class TelemetryRecord(Base):
    """One telemetry report (all accelerators of a host at one instant) as one row.

    A row per report rather than per metric keeps ingest at thousands of reports per
    second on a small machine; queries for one metric read a host's rows in a time range.
    """

    __tablename__ = "telemetry"
    __table_args__ = (
        UniqueConstraint("device_id", "item_id"),
        Index("ix_telemetry_device_time", "device_id", "time"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(128))
    time: Mapped[float] = mapped_column(Float, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class TelemetryRollup(Base):
    """Downsampled telemetry: per bucket, per accelerator and metric, min / mean / max / count."""

    __tablename__ = "telemetry_rollups"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket_start: Mapped[float] = mapped_column(Float, primary_key=True)
    bucket_s: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class LatestMetrics(Base):
    """The newest metrics per accelerator (uuid ``host`` for host metrics); never pruned."""

    __tablename__ = "latest_metrics"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uuid: Mapped[str] = mapped_column(String(128), primary_key=True)
    index: Mapped[int] = mapped_column(Integer)
    time: Mapped[float] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)


class HealthRecord(Base):
    __tablename__ = "health_events"
    __table_args__ = (
        UniqueConstraint("device_id", "item_id"),
        Index("ix_health_device_time", "device_id", "time"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(128))
    time: Mapped[float] = mapped_column(Float)
    component: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    suggested_action: Mapped[str | None] = mapped_column(String(500))
    device_uuid: Mapped[str | None] = mapped_column(String(128))


class HealthCurrent(Base):
    """The latest judgement per (host, component, accelerator); ``subject`` is '' for host-wide."""

    __tablename__ = "health_current"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    component: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    time: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    suggested_action: Mapped[str | None] = mapped_column(String(500))


class Landmark(Base):
    __tablename__ = "landmarks"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(String(128))
    country: Mapped[str | None] = mapped_column(String(2))
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    mesh: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float)


class LandmarkStatement(Base):
    """A landmark's signed position statement (``fleetproof.probe.statement``), kept with its history.

    Checked on registration (signature, key, id and position); a verdict's landmark positions
    are later backed by the statement that gave them, in evidence bundles.
    """

    __tablename__ = "landmark_statements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    landmark_id: Mapped[str] = mapped_column(String(64), index=True)
    time: Mapped[float] = mapped_column(Float)
    public_key: Mapped[str] = mapped_column(String(128))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    statement: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[float] = mapped_column(Float)


class Measurement(Base):
    """A landmark-signed measurement record, accepted after its signature was checked."""

    __tablename__ = "measurements"
    __table_args__ = (
        UniqueConstraint("device_id", "item_id"),
        Index("ix_measurements_device_time", "device_id", "time"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(128))
    landmark_id: Mapped[str] = mapped_column(String(64))
    time: Mapped[float] = mapped_column(Float)
    rtt_ms: Mapped[float] = mapped_column(Float)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)


class MeshMeasurement(Base):
    """Landmark-to-landmark RTTs, the input of landmark vetting."""

    __tablename__ = "mesh_measurements"
    __table_args__ = (Index("ix_mesh_pair_time", "source_id", "target_id", "time"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(64))
    time: Mapped[float] = mapped_column(Float)
    rtt_ms: Mapped[float] = mapped_column(Float)
    # The measuring landmark's signed record, when the mesh was sent as records (else the operator's word).
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Verdict(Base):
    __tablename__ = "verdicts"
    __table_args__ = (Index("ix_verdicts_device_time", "device_id", "time"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    time: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(32))
    suspicious: Mapped[bool] = mapped_column(Boolean)
    estimate: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    region: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    relocated: Mapped[bool] = mapped_column(Boolean, default=False)
    peer_inconsistent: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the verdict rests on (window, record ids, landmarks, zone, mesh, engine settings).
    basis: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class VerdictQueue(Base):
    """Hosts whose measurements changed and need a verdict; claimed atomically by any server process."""

    __tablename__ = "verdict_queue"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[float] = mapped_column(Float, index=True)
    claimed_at: Mapped[float | None] = mapped_column(Float)


class Alert(Base):
    """An alert; ``open_key`` is set while it is open, and unique, which de-duplicates it."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    subject: Mapped[str] = mapped_column(String(128))
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    landmark_id: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float, index=True)


class AlertDelivery(Base):
    __tablename__ = "alert_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    event: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(1000))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, index=True)
    delivered_at: Mapped[float | None] = mapped_column(Float)
    gave_up: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[float | None] = mapped_column(Float)


class AuditEntry(Base):
    """One link of the hash chain: ``hash = sha256(prev_hash || canonical(entry))``."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class RequestNonce(Base):
    """Nonces of signed agent requests seen inside the replay window."""

    __tablename__ = "request_nonces"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[float] = mapped_column(Float, index=True)


class ServerMeta(Base):
    """Facts about the store itself, one number each (``first_start``: when it was set up, Unix s)."""

    __tablename__ = "server_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
