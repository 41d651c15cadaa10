"""Who must have signed what: the binding checks on measurement records, shared by server and verifier.

A record's signature alone says "some key signed these numbers". What makes it
evidence is *whose* key: a device record must verify under the key of the landmark
it names and must name the device and the device's enrolled key; a mesh record
must verify under the measured landmark's key and must have been probed with the
probing landmark's own key, so that neither end of a mesh RTT is an outsider.
"""

from __future__ import annotations

from collections.abc import Mapping

from fleetproof.probe.records import MeasurementRecord, RecordError, verify_record
from fleetproof.probe.wire import printable

__all__ = ["check_device_record", "check_mesh_record"]


def check_device_record(
    record: MeasurementRecord, landmark_keys: Mapping[str, str], device_id: str, device_key: str
) -> None:
    """Raise :class:`RecordError` unless a known landmark signed this record for this device and key."""
    key = landmark_keys.get(record.landmark_id)
    if key is None:
        raise RecordError(f"record names landmark {printable(record.landmark_id)!r}, which is not listed")
    if record.device_id != device_id:
        raise RecordError(
            f"record is for device {printable(record.device_id)!r}, not {printable(device_id)!r}"
        )
    verify_record(record, key, device_public_key=device_key)


def check_mesh_record(record: MeasurementRecord, landmark_keys: Mapping[str, str]) -> None:
    """Raise :class:`RecordError` unless both ends are listed landmarks, each with its own key."""
    prober, measured = record.device_id, record.landmark_id
    if prober not in landmark_keys or measured not in landmark_keys:
        raise RecordError(f"{printable(prober)} → {printable(measured)} is not a pair of listed landmarks")
    if prober == measured:
        raise RecordError(f"{printable(prober)} measured itself")
    if record.device_public_key != landmark_keys[prober]:
        raise RecordError(f"{printable(prober)} probed with a key that is not its own")
    verify_record(record, landmark_keys[measured])
