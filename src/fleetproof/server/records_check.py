"""Checking a probe record before it is stored: the landmark's signature and whose key it timed.

A record is accepted only when its landmark is registered, the landmark's Ed25519
signature verifies over the record's canonical encoding, it names the device that
sent it, and the device key the landmark timed is the key enrolled for that device
(a landmark vouches for a key, not for a name).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetproof.errors import first_error
from fleetproof.probe.records import MeasurementRecord, RecordError, verify_record
from fleetproof.server.ingest import CheckedRecord
from fleetproof.server.store.models import Device, Landmark

__all__ = ["check_probe_record"]


def check_probe_record(session: Session, device_id: str, payload: dict[str, Any]) -> CheckedRecord:
    """Return the record's stored form, or raise ``ValueError`` saying why it is refused."""
    try:
        record = MeasurementRecord.model_validate(payload)
    except ValidationError as exc:
        raise ValueError(first_error(exc, "record")) from None
    if record.device_id != device_id:
        raise ValueError(f"record is for device {record.device_id!r}, not the sender")
    key = session.scalar(select(Landmark.public_key).where(Landmark.id == record.landmark_id))
    if key is None:
        raise ValueError(f"unknown landmark {record.landmark_id!r}")
    enrolled = session.scalar(select(Device.public_key).where(Device.id == device_id))
    if enrolled != record.device_public_key:
        raise ValueError("record timed a device key other than the one enrolled for this device")
    try:
        verify_record(record, key)
    except RecordError as exc:
        raise ValueError(str(exc)) from None
    return CheckedRecord(
        landmark_id=record.landmark_id,
        time=record.time,
        rtt_ms=record.rtt_ms,
        record=record.model_dump(mode="json"),
    )
