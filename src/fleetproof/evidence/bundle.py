"""The evidence bundle: one JSON file holding everything a device's verdicts rest on.

The fleet server writes it (``fleetproof server evidence export``); anyone checks it
offline (``fleetproof evidence verify``). Signed parts keep their signatures and are
copied verbatim: landmark position statements, measurement records, mesh records.
Unsigned parts — the zone's definition, the engine settings, the verdicts — are what
the fleet operator says; the verifier recomputes what can be recomputed from the signed
parts and names the rest.

Shape (version 1; lists are referred to by position)::

    format, version, created_at, fleetproof_version
    device        id, zone, public_key, enrolled_at, revoked,
                  attestation (or null): attestor, hardware_bound, nonce_hex, claims, raw,
                                         challenge_hex
    window        since, until                      (of the verdicts included)
    landmarks[]   id, public_key, country, trusted_now, statements[]
    zones[]       id, allowed_countries, allowed_region, site_lat, site_lon
    records[]     signed measurement records of the device
    mesh[]        source_id, target_id, rtt_ms, time, record (signed, or null)
    calibrations[] kind (mesh | model), mesh_version, since, mesh[] (indices), model
    verdicts[]    time, verdict, suspicious, estimate, evidence,
                  basis: window, records[] (indices), landmarks[] (id, lat, lon),
                         zone (index), calibration (index or null: default model),
                         engine settings, countries_sha256, fleetproof_version
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleetproof.errors import InputError, first_error
from fleetproof.files import read_input_text
from fleetproof.probe.records import MeasurementRecord
from fleetproof.probe.statement import PositionStatement

__all__ = [
    "BUNDLE_FORMAT",
    "Basis",
    "Bundle",
    "BundleAttestation",
    "BundleCalibration",
    "BundleDevice",
    "BundleLandmark",
    "BundleVerdict",
    "BundleZone",
    "MeshEntry",
    "Position",
    "Window",
    "read_bundle",
]

BUNDLE_FORMAT: Literal["fleetproof/evidence-bundle"] = "fleetproof/evidence-bundle"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    since: float | None = Field(allow_inf_nan=False)
    until: float | None = Field(allow_inf_nan=False)


class BundleAttestation(_Model):
    """The evidence the agent sent at enrollment, binding the device key, and the challenge it answered.

    ``nonce_hex`` must be ``binding_nonce(public_key, challenge)``: anyone can recompute it.
    ``hardware_bound`` and ``claims`` are the attestor's; ``raw`` is its untouched output,
    for its vendor's verifier (NVIDIA's, for ``nvidia``).
    """

    attestor: str = Field(min_length=1, max_length=64)
    hardware_bound: bool
    nonce_hex: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    claims: dict[str, Any] = Field(default_factory=dict)
    raw: str = ""
    challenge_hex: str = Field(
        pattern=r"^(?:[0-9a-fA-F]{2}){1,128}$",
        description="the enrollment challenge: SHA-256 of the one-time enrollment token, hex",
    )


class BundleDevice(_Model):
    id: str = Field(min_length=1, max_length=128)
    zone: str
    public_key: str = Field(description="the enrolled Ed25519 key, base64")
    enrolled_at: float
    revoked: bool = False
    attestation: BundleAttestation | None = Field(
        default=None, description="evidence binding the key, sent at enrollment; null when none was"
    )


class BundleLandmark(_Model):
    id: str = Field(min_length=1, max_length=128)
    public_key: str
    country: str | None = None
    trusted_now: bool
    statements: list[PositionStatement] = Field(default_factory=list)


class BundleZone(_Model):
    id: str
    allowed_countries: list[str] = Field(default_factory=list)
    allowed_region: dict[str, Any] | None = None
    site_lat: float | None = None
    site_lon: float | None = None


class MeshEntry(_Model):
    source_id: str
    target_id: str
    rtt_ms: float = Field(allow_inf_nan=False)
    time: float = Field(allow_inf_nan=False)
    record: MeasurementRecord | None = None


class BundleCalibration(_Model):
    """How one delay model came about: fitted on mesh entries, or given whole."""

    kind: Literal["mesh", "model"]
    mesh_version: int | None = None
    since: float | None = None
    mesh: list[int] = Field(default_factory=list, description="indices into the bundle's mesh")
    model: dict[str, Any] | None = None


class Position(_Model):
    id: str
    lat: float = Field(allow_inf_nan=False)
    lon: float = Field(allow_inf_nan=False)


class Basis(_Model):
    window: Window
    records: list[int] = Field(description="indices into the bundle's records")
    landmarks: list[Position] = Field(description="the trusted landmarks and the positions the engine used")
    zone: int
    calibration: int | None = Field(description="index into calibrations; null: the engine's default model")
    engine: dict[str, Any]
    countries_sha256: str | None = None
    fleetproof_version: str | None = None


class BundleVerdict(_Model):
    time: float
    verdict: str
    suspicious: bool
    estimate: dict[str, Any] | None
    evidence: dict[str, Any]
    basis: Basis | None = Field(description="null for verdicts made before bases were stored")


class Bundle(_Model):
    format: Literal["fleetproof/evidence-bundle"] = BUNDLE_FORMAT
    version: Literal[1] = 1
    created_at: float
    fleetproof_version: str
    device: BundleDevice
    window: Window
    landmarks: list[BundleLandmark]
    zones: list[BundleZone]
    records: list[MeasurementRecord]
    mesh: list[MeshEntry]
    calibrations: list[BundleCalibration]
    verdicts: list[BundleVerdict]

    @model_validator(mode="after")
    def _references(self) -> Bundle:
        """Every index points at something, so the verifier never meets a dangling reference;
        landmark ids are unique, so each has one key."""
        ids = [lm.id for lm in self.landmarks]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"landmarks: {', '.join(twice[:5])} listed more than once")
        for c, cal in enumerate(self.calibrations):
            _in_range(cal.mesh, len(self.mesh), f"calibrations.{c}.mesh", "mesh entry")
        for v, verdict in enumerate(self.verdicts):
            basis = verdict.basis
            if basis is None:
                continue
            where = f"verdicts.{v}.basis"
            _in_range(basis.records, len(self.records), f"{where}.records", "record")
            _in_range([basis.zone], len(self.zones), f"{where}.zone", "zone")
            if basis.calibration is not None:
                _in_range([basis.calibration], len(self.calibrations), f"{where}.calibration", "calibration")
        return self


def _in_range(indices: list[int], size: int, where: str, what: str) -> None:
    for i in indices:
        if not 0 <= i < size:
            raise ValueError(f"{where}: there is no {what} {i} (the bundle has {size})")


def read_bundle(path: str | Path) -> Bundle:
    """Parse a bundle file; anything malformed is an :class:`InputError` naming file, line or field."""
    target = Path(path)
    text = read_input_text(target)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(str(target), exc.lineno, f"not JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InputError(str(target), None, "not JSON: nested too deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
        raise InputError(str(target), None, f'not an evidence bundle (no "format": "{BUNDLE_FORMAT}")')
    if doc.get("version") != 1:
        raise InputError(str(target), None, f"bundle version {doc.get('version')!r} is not supported (1 is)")
    try:
        return Bundle.model_validate(doc)
    except ValidationError as exc:
        raise InputError(str(target), None, f"malformed bundle: {first_error(exc, 'bundle')}") from None
    except RecursionError:
        raise InputError(str(target), None, "malformed bundle: nested too deeply") from None
