"""Evidence bundles: everything one device's verdicts in a window rest on, in one checkable file.

The store keeps, with every verdict, its *basis* (see :mod:`fleetproof.server.engine`):
the window, the ids of the measurement rows it took RTTs from, the landmark positions
it used, the zone policy, the mesh its delay model was fitted on and the engine
settings. :func:`export_bundle` follows those references and copies the signed parts
verbatim — landmark position statements, measurement records, mesh records — so that
``fleetproof evidence verify`` can check and recompute every verdict without this
server. Telemetry, inventory, tokens and anything secret stay out (the attestation's
challenge is the digest of a spent enrollment token, not the token).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetproof import __version__
from fleetproof.errors import ConfigError
from fleetproof.evidence.bundle import Bundle
from fleetproof.server.store.db import Database
from fleetproof.server.store.models import (
    AuditEntry,
    Device,
    Landmark,
    LandmarkStatement,
    Measurement,
    MeshMeasurement,
    Verdict,
)

__all__ = ["MAX_VERDICTS", "UnknownDevice", "bundle_api_path", "bundle_cli_command", "export_bundle"]

#: A bundle holds at most this many verdicts; a longer history is exported in several windows.
MAX_VERDICTS = 5000
_CHUNK = 500
T = TypeVar("T")


class UnknownDevice(ConfigError):
    """No device with that id is enrolled (the API answers 404)."""


def bundle_cli_command(device_id: str) -> str:
    """The command that writes a device's bundle (shown in the compliance report)."""
    return f"fleetproof server evidence export --device {device_id} --out {device_id}.evidence.json"


def bundle_api_path(device_id: str) -> str:
    return f"/api/v1/devices/{device_id}/evidence"


def export_bundle(
    db: Database, device_id: str, *, since: float | None = None, until: float | None = None, now: float
) -> dict[str, Any]:
    """The bundle (a JSON document) for ``device_id``'s verdicts with ``since <= time <= until``."""
    if since is not None and until is not None and since > until:
        raise ConfigError(f"--since ({since}) is after --until ({until})")
    with db.read() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise UnknownDevice(f"no device {device_id!r}")
        verdicts = _verdicts(session, device_id, since, until)
        builder = _Builder(session)
        entries = [builder.verdict(v) for v in verdicts]
        doc = {
            "created_at": now,
            "fleetproof_version": __version__,
            "device": _device(session, device),
            "window": {
                "since": since if since is not None else (verdicts[0].time if verdicts else None),
                "until": until if until is not None else (verdicts[-1].time if verdicts else None),
            },
            "landmarks": builder.landmarks(),
            "zones": builder.zones,
            "records": builder.records,
            "mesh": builder.mesh,
            "calibrations": builder.calibrations,
            "verdicts": entries,
        }
    # Through the bundle's own model: what the server writes is what the verifier reads.
    return Bundle.model_validate(doc).model_dump(mode="json")


def _verdicts(session: Session, device_id: str, since: float | None, until: float | None) -> list[Verdict]:
    query = select(Verdict).where(Verdict.device_id == device_id)
    if since is not None:
        query = query.where(Verdict.time >= since)
    if until is not None:
        query = query.where(Verdict.time <= until)
    rows = list(session.scalars(query.order_by(Verdict.time, Verdict.id).limit(MAX_VERDICTS + 1)))
    if len(rows) > MAX_VERDICTS:
        raise ConfigError(
            f"more than {MAX_VERDICTS} verdicts in the window; export a shorter one (--since/--until)"
        )
    return rows


def _device(session: Session, device: Device) -> dict[str, Any]:
    key, revoked = device.public_key, device.public_key.startswith("revoked:")
    if revoked:  # revocation overwrites the key; the enrollment in the audit log still names it
        details = session.scalars(
            select(AuditEntry.details)
            .where(AuditEntry.action == "device.enrolled", AuditEntry.subject == device.id)
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).first()
        key = str((details or {}).get("public_key", ""))
    return {
        "id": device.id,
        "zone": device.zone_id,
        "public_key": key,
        "enrolled_at": device.enrolled_at,
        "revoked": revoked,
        # As sent at enrollment, with its challenge (the token's SHA-256, no secret once spent), so
        # the verifier can recompute the binding nonce from the key above; null without attestation.
        "attestation": device.attestation,
    }


def _chunks(ids: Sequence[T]) -> Iterable[Sequence[T]]:
    for lo in range(0, len(ids), _CHUNK):
        yield ids[lo : lo + _CHUNK]


class _Builder:
    """Collects the parts the verdicts refer to, each once, and hands out their positions."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.records: list[dict[str, Any]] = []
        self.mesh: list[dict[str, Any]] = []
        self.zones: list[dict[str, Any]] = []
        self.calibrations: list[dict[str, Any]] = []
        self._record_index: dict[int, int] = {}
        self._mesh_index: dict[int, int] = {}
        self._zone_index: dict[str, int] = {}
        self._calibration_index: dict[str, int] = {}
        self._landmark_ids: set[str] = set()

    def verdict(self, v: Verdict) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": v.time,
            "verdict": v.verdict,
            "suspicious": bool(v.suspicious),
            "estimate": v.estimate,
            "evidence": v.evidence,
            "basis": None,
        }
        basis = v.basis
        if not basis:
            return entry
        wanted = [int(i) for i in basis.get("records", [])]
        indices = self._records(wanted)
        positions = [{"id": i, "lat": lat, "lon": lon} for i, lat, lon in basis.get("landmarks", [])]
        self._landmark_ids.update(p["id"] for p in positions)
        entry["basis"] = {
            "window": basis["window"],
            "records": indices,
            "landmarks": positions,
            "zone": self._zone(basis["zone"]),
            "calibration": self._calibration(basis.get("calibration")),
            "engine": basis["engine"],
            "countries_sha256": basis.get("countries_sha256"),
            "fleetproof_version": basis.get("fleetproof_version"),
        }
        return entry

    def _records(self, ids: list[int]) -> list[int]:
        missing = sorted({i for i in ids if i not in self._record_index})
        for chunk in _chunks(missing):
            rows = self.session.execute(
                select(Measurement.id, Measurement.record)
                .where(Measurement.id.in_(chunk))
                .order_by(Measurement.id)
            )
            for row_id, record in rows:
                self._record_index[row_id] = len(self.records)
                self.records.append(record)
                self._landmark_ids.add(str(record.get("landmark_id", "")))
        # A row retention has removed since is absent: the verdict will not reproduce, and says so.
        return [self._record_index[i] for i in ids if i in self._record_index]

    def _zone(self, zone: dict[str, Any]) -> int:
        key = json.dumps(zone, sort_keys=True)
        if key not in self._zone_index:
            self._zone_index[key] = len(self.zones)
            self.zones.append(zone)
        return self._zone_index[key]

    def _calibration(self, calibration: dict[str, Any] | None) -> int | None:
        if calibration is None:
            return None
        key = json.dumps(calibration, sort_keys=True)
        if key in self._calibration_index:
            return self._calibration_index[key]
        if "model" in calibration:
            entry: dict[str, Any] = {"kind": "model", "model": calibration["model"]}
        else:
            version, since = int(calibration["mesh_version"]), float(calibration["since"])
            entry = {
                "kind": "mesh",
                "mesh_version": version,
                "since": since,
                "mesh": self._mesh(version, since),
            }
        self._calibration_index[key] = len(self.calibrations)
        self.calibrations.append(entry)
        return self._calibration_index[key]

    def _mesh(self, version: int, since: float) -> list[int]:
        """The row giving each ordered pair its minimum, over the rows that calibration saw."""
        rows = self.session.scalars(
            select(MeshMeasurement)
            .where(MeshMeasurement.id <= version, MeshMeasurement.time >= since)
            .order_by(MeshMeasurement.id)
        )
        best: dict[tuple[str, str], MeshMeasurement] = {}
        for row in rows:
            pair = (row.source_id, row.target_id)
            if pair not in best or row.rtt_ms < best[pair].rtt_ms:
                best[pair] = row
        out = []
        for pair in sorted(best):
            row = best[pair]
            if row.id not in self._mesh_index:
                self._mesh_index[row.id] = len(self.mesh)
                self.mesh.append(
                    {
                        "source_id": row.source_id,
                        "target_id": row.target_id,
                        "rtt_ms": row.rtt_ms,
                        "time": row.time,
                        "record": row.record,
                    }
                )
                self._landmark_ids.update(pair)
            out.append(self._mesh_index[row.id])
        return out

    def landmarks(self) -> list[dict[str, Any]]:
        ids = sorted(self._landmark_ids)
        statements: dict[str, list[dict[str, Any]]] = {}
        out = []
        for chunk in _chunks(ids):
            for st in self.session.scalars(
                select(LandmarkStatement)
                .where(LandmarkStatement.landmark_id.in_(chunk))
                .order_by(LandmarkStatement.id)
            ):
                statements.setdefault(st.landmark_id, []).append(st.statement)
            for lm in self.session.scalars(
                select(Landmark).where(Landmark.id.in_(chunk)).order_by(Landmark.id)
            ):
                # A statement under a key the landmark no longer uses speaks for that old key only.
                current = [st for st in statements.get(lm.id, []) if st.get("public_key") == lm.public_key]
                out.append(
                    {
                        "id": lm.id,
                        "public_key": lm.public_key,
                        "country": lm.country,
                        "trusted_now": bool(lm.trusted),
                        "statements": current,
                    }
                )
        return out
