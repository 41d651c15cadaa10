"""Operator actions shared by the admin API and the CLI; each one is written to the audit log."""

from __future__ import annotations

import math
import re
import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from fleetproof.errors import ConfigError, first_error
from fleetproof.geo.claims import check_polygons, geojson_polygons
from fleetproof.protocol.enroll import hash_token  # shared with the agent: its digest is the challenge
from fleetproof.protocol.reqsign import public_key_from_b64
from fleetproof.server import audit
from fleetproof.server.config import persistence_problem
from fleetproof.server.store.db import Database
from fleetproof.server.store.models import Device, EnrollmentToken, Landmark, LandmarkStatement, Zone

__all__ = [
    "LandmarkIn",
    "ZoneIn",
    "add_landmark",
    "create_token",
    "create_zone",
    "hash_token",
    "landmark_dict",
    "zone_dict",
]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class ZoneIn(BaseModel):
    """A zone: a declared site (optional coordinates) plus the countries or region its hosts may be in."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID_PATTERN)
    description: str = Field(default="", max_length=500)
    site_name: str | None = Field(default=None, max_length=255)
    site_lat: float | None = Field(default=None, ge=-90, le=90)
    site_lon: float | None = Field(default=None, ge=-180, le=180)
    allowed_countries: list[str] = Field(default_factory=list, max_length=300)
    allowed_region: dict[str, Any] | None = Field(default=None, description="GeoJSON Polygon or MultiPolygon")
    suspicious_min_rounds: int | None = Field(
        default=None, description="flagged rounds needed for the host's suspicious flag (default: server's)"
    )
    suspicious_window_rounds: int | None = Field(
        default=None, description="latest rounds the suspicious flag looks back over (default: server's)"
    )

    @model_validator(mode="after")
    def _persistence(self) -> ZoneIn:
        k, n = self.suspicious_min_rounds, self.suspicious_window_rounds
        if (k is None) != (n is None):
            raise ValueError("give both suspicious_min_rounds and suspicious_window_rounds, or neither")
        problem = None if k is None or n is None else persistence_problem(k, n)
        if problem:
            raise ValueError(f"suspicious_min_rounds / suspicious_window_rounds: {problem}")
        return self

    @field_validator("allowed_countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        out = sorted({c.upper() for c in value})
        bad = [c for c in out if not _COUNTRY.match(c)]
        if bad:
            raise ValueError(f"not ISO 3166-1 alpha-2 codes: {', '.join(bad[:5])}")
        return out

    @field_validator("allowed_region")
    @classmethod
    def _region(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if value.get("type") not in {"Polygon", "MultiPolygon"}:
            raise ValueError("allowed_region must be a GeoJSON Polygon or MultiPolygon")
        if not _finite(value, _MAX_REGION_DEPTH):
            raise ValueError(
                f"allowed_region holds NaN or Infinity, or nests deeper than {_MAX_REGION_DEPTH}"
            )
        try:
            polygons = geojson_polygons(value)
            check_polygons(polygons)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"allowed_region has no valid coordinates ({type(exc).__name__})") from None
        if not polygons:  # an empty area: every device of the zone would be a violation
            raise ValueError("allowed_region has no polygons")
        return value


class LandmarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID_PATTERN)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]+$")
    public_key: str = Field(max_length=128)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    statement: dict[str, Any] | None = Field(
        default=None,
        description="the landmark's signed position statement (`fleetproof landmark statement`); "
        "it must be signed by public_key and give this id, lat and lon",
    )

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        public_key_from_b64(value)
        return value.strip()


# A MultiPolygon's coordinates nest four lists deep; anything far deeper is not GeoJSON, and
# past a few hundred levels it could not even be serialised for the audit log.
_MAX_REGION_DEPTH = 16


def _finite(value: Any, depth: int) -> bool:
    """Whether a JSON document holds only finite numbers (Python's parser lets NaN and Infinity
    in, and the store's JSON cannot keep them) and nests at most ``depth`` levels."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict | list):
        children = value.values() if isinstance(value, dict) else value
        return depth > 0 and all(_finite(v, depth - 1) for v in children)
    return True


def zone_dict(z: Zone) -> dict[str, Any]:
    return {
        "id": z.id,
        "description": z.description,
        "site_name": z.site_name,
        "site_lat": z.site_lat,
        "site_lon": z.site_lon,
        "allowed_countries": list(z.allowed_countries or []),
        "allowed_region": z.allowed_region,
        "created_at": z.created_at,
        "suspicious_min_rounds": z.suspicious_min_rounds,
        "suspicious_window_rounds": z.suspicious_window_rounds,
    }


def landmark_dict(lm: Landmark) -> dict[str, Any]:
    return {
        "id": lm.id,
        "lat": lm.lat,
        "lon": lm.lon,
        "address": lm.address,
        "public_key": lm.public_key,
        "country": lm.country,
        "trusted": lm.trusted,
        "quarantine_reason": lm.quarantine_reason,
        "mesh": lm.mesh or {},
    }


def create_zone(
    db: Database, zone: ZoneIn, *, actor: str, now: float, replace: bool = False
) -> dict[str, Any]:
    """Create a zone (or, with ``replace``, change its policy)."""
    with db.write() as session:
        row = session.get(Zone, zone.id)
        if row is not None and not replace:
            raise ConfigError(f"zone {zone.id!r} exists")
        if row is None:
            row = Zone(id=zone.id, created_at=now)
            session.add(row)
        for key, value in zone.model_dump(exclude={"id"}).items():
            setattr(row, key, value)
        audit.append(
            db,
            session,
            actor=actor,
            action="zone.updated" if replace else "zone.created",
            subject=zone.id,
            details=zone.model_dump(mode="json"),
            now=now,
        )
        session.flush()
        return zone_dict(row)


def create_token(
    db: Database, zone_id: str, *, ttl_s: float, actor: str, now: float, device_id: str | None = None
) -> dict[str, Any]:
    """Make a one-time enrollment token for ``zone_id``; the token is shown once and stored hashed.

    With ``device_id`` the operator names the device that enrolls with it (its host name in the
    inventory, say); without, the server makes up an id at enrollment.
    """
    if not (math.isfinite(ttl_s) and 0 < ttl_s <= 366 * 86400):
        raise ConfigError("token lifetime must be between 1 s and a year")
    if device_id is not None and not re.match(ID_PATTERN, device_id):
        raise ConfigError(f"device id {device_id!r}: use letters, digits, '.', '_', ':' and '-' (at most 64)")
    token = "fpe_" + secrets.token_urlsafe(24)
    with db.write() as session:
        if session.get(Zone, zone_id) is None:
            raise ConfigError(f"no zone {zone_id!r}; create it first")
        if device_id is not None and session.get(Device, device_id) is not None:
            raise ConfigError(f"a device {device_id!r} is already enrolled")
        session.add(
            EnrollmentToken(
                token_hash=hash_token(token),
                zone_id=zone_id,
                created_at=now,
                expires_at=now + ttl_s,
                device_id=device_id,
            )
        )
        audit.append(
            db,
            session,
            actor=actor,
            action="token.created",
            subject=zone_id,
            details={"token_sha256_prefix": hash_token(token)[:12], "expires_at": now + ttl_s},
            now=now,
        )
    return {"token": token, "zone": zone_id, "device_id": device_id, "expires_at": now + ttl_s}


def _checked_statement(lm: LandmarkIn) -> Any:
    """The registration's position statement, checked against it; ConfigError saying why not."""
    from pydantic import ValidationError

    from fleetproof.probe.statement import PositionStatement, StatementError, verify_statement

    try:
        statement = PositionStatement.model_validate(lm.statement)
        verify_statement(statement, public_key=lm.public_key, landmark_id=lm.id, lat=lm.lat, lon=lm.lon)
    except ValidationError as exc:
        raise ConfigError(first_error(exc, "statement", prefix=["statement"])) from None
    except StatementError as exc:
        raise ConfigError(f"statement: {exc}") from None
    return statement


def add_landmark(
    db: Database, lm: LandmarkIn, *, actor: str, now: float, replace: bool = False
) -> dict[str, Any]:
    """Register (or replace) a landmark; a position statement given with it is checked and kept."""
    statement = _checked_statement(lm) if lm.statement is not None else None
    with db.write() as session:
        row = session.get(Landmark, lm.id)
        if row is not None and not replace:
            raise ConfigError(f"landmark {lm.id!r} exists")
        if row is None:
            row = Landmark(id=lm.id, created_at=now, trusted=True, mesh={})
            session.add(row)
        for key, value in lm.model_dump(exclude={"id", "statement"}).items():
            setattr(row, key, value)
        if statement is not None:
            session.add(
                LandmarkStatement(
                    landmark_id=lm.id,
                    time=statement.time,
                    public_key=statement.public_key,
                    lat=statement.lat,
                    lon=statement.lon,
                    statement=statement.model_dump(mode="json"),
                    received_at=now,
                )
            )
        audit.append(
            db,
            session,
            actor=actor,
            action="landmark.registered",
            subject=lm.id,
            details=lm.model_dump(mode="json"),
            now=now,
        )
        session.flush()
        return landmark_dict(row)


def list_zones(db: Database) -> list[dict[str, Any]]:
    with db.read() as session:
        return [zone_dict(z) for z in session.scalars(select(Zone).order_by(Zone.id))]


def latest_statements(session: Any) -> dict[str, dict[str, Any]]:
    """Each landmark's newest position statement that matches its current key and position."""
    current = {lm.id: (lm.public_key, lm.lat, lm.lon) for lm in session.scalars(select(Landmark))}
    out: dict[str, dict[str, Any]] = {}
    for st in session.scalars(select(LandmarkStatement).order_by(LandmarkStatement.id)):
        if current.get(st.landmark_id) == (st.public_key, st.lat, st.lon):
            out[st.landmark_id] = st.statement
    return out


def list_landmarks(db: Database) -> list[dict[str, Any]]:
    with db.read() as session:
        statements = latest_statements(session)
        return [
            {**landmark_dict(lm), "statement": statements.get(lm.id)}
            for lm in session.scalars(select(Landmark).order_by(Landmark.id))
        ]


def remove_device(db: Database, device_id: str, *, actor: str, now: float) -> bool:
    """Revoke a device: its key stops working at once; its history stays for the record."""
    with db.write() as session:
        device = session.get(Device, device_id)
        if device is None:
            return False
        device.public_key = f"revoked:{device.id}"
        audit.append(
            db, session, actor=actor, action="device.revoked", subject=device_id, details={}, now=now
        )
        return True
