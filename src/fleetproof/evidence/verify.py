"""Checking a bundle offline: every signature and binding, then every verdict recomputed.

No server and no database: the bundle, the bundled country table and the engine are
all it takes. Each part of the bundle ends in one of five states, and the report says
which, because a third party needs to know what they are trusting:

- ``checked`` — a signature (landmark position statements, measurement records, mesh
  records) verified under the key it must be under;
- ``recomputed`` — derived again here from checked parts (vetting, delay model, verdicts);
- ``operator`` — taken on the fleet operator's word (the zone's definition, the
  landmark keys unless pinned with a directory, unsigned mesh pairs, the device key's
  custody without hardware attestation);
- ``attestor`` — taken on a hardware attestor's word (``hardware_bound`` and its claims;
  the binding of its evidence to the device key is ``checked``);
- ``assumed`` — a premise of the method (the speed bound).

A verdict counts as reproduced when recomputing it from its basis gives the stored
verdict, suspicion flag, estimate and engine evidence, and everything it rests on checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetproof import __version__
from fleetproof.evidence.attestation import check_device_attestation
from fleetproof.evidence.bundle import Basis, Bundle, BundleCalibration, BundleVerdict
from fleetproof.evidence.judging import (
    EngineSettings,
    Judgement,
    build_engine,
    calibrated_model,
    countries_sha256,
    judge_many,
    round_rtts,
)
from fleetproof.evidence.signed import check_device_record, check_mesh_record
from fleetproof.geo import CountryTable, DelayModel, Landmark, MeshLink, vet_landmarks
from fleetproof.geo.speed import SPEED_OF_LIGHT_KM_PER_MS
from fleetproof.probe.keys import public_key_from_b64
from fleetproof.probe.records import RecordError
from fleetproof.probe.statement import StatementError, verify_statement
from fleetproof.probe.wire import printable

__all__ = ["Part", "Report", "VerdictCheck", "verify_bundle"]

#: A round's minimum RTTs as a hashable, ordered tuple of (landmark id, rtt_ms).
Rtts = tuple[tuple[str, float], ...]
How = Literal["checked", "recomputed", "operator", "attestor", "assumed"]
#: Stored evidence keys that come from history (other verdicts, other hosts), not from this bundle.
HISTORY_KEYS = ("relocation", "peers")
_REL_TOL = 1e-9


@dataclass(frozen=True)
class Part:
    how: How
    what: str


@dataclass
class VerdictCheck:
    index: int
    time: float
    verdict: str
    problems: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not self.problems


@dataclass
class Report:
    device_id: str
    parts: list[Part] = field(default_factory=list)
    verdicts: list[VerdictCheck] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and all(v.reproduced for v in self.verdicts)


def _differences(stored: Any, recomputed: Any, where: str, out: list[str]) -> None:
    """Every place the stored value differs from the recomputed one (numbers to a relative 1e-9)."""
    if isinstance(stored, bool) or isinstance(recomputed, bool):
        if stored is not recomputed:
            out.append(f"{where}: stored {stored!r}, recomputed {recomputed!r}")
    elif isinstance(stored, int | float) and isinstance(recomputed, int | float):
        if not math.isclose(stored, recomputed, rel_tol=_REL_TOL, abs_tol=_REL_TOL):
            out.append(f"{where}: stored {stored!r}, recomputed {recomputed!r}")
    elif isinstance(stored, dict) and isinstance(recomputed, dict):
        for key in sorted(set(stored) | set(recomputed)):
            _differences(stored.get(key), recomputed.get(key), f"{where}.{key}", out)
    elif isinstance(stored, list) and isinstance(recomputed, list) and len(stored) == len(recomputed):
        for i, (a, b) in enumerate(zip(stored, recomputed, strict=True)):
            _differences(a, b, f"{where}[{i}]", out)
    elif stored != recomputed:
        out.append(f"{where}: stored {stored!r}, recomputed {recomputed!r}")


class _Checker:
    def __init__(
        self,
        bundle: Bundle,
        countries: CountryTable,
        pinned_keys: Mapping[str, str] | None,
        allow_unsigned_positions: bool,
    ) -> None:
        self.b = bundle
        self.countries = countries
        self.pinned = pinned_keys
        self.allow_unsigned = allow_unsigned_positions
        self.report = Report(bundle.device.id)
        self.keys = {lm.id: lm.public_key for lm in bundle.landmarks}
        self.positions: dict[str, set[tuple[float, float]]] = {}
        self.newest: dict[str, tuple[float, float]] = {}
        self.bad_records: dict[int, str] = {}
        self.bad_mesh: set[int] = set()
        self.quarantined: dict[int, dict[str, str]] = {}
        self._models: dict[tuple[Any, ...], DelayModel | None] = {}
        self._engines: dict[tuple[Any, ...], Any] = {}
        self._pending: list[tuple[VerdictCheck, BundleVerdict, tuple[Any, int], Rtts]] = []

    def fail(self, message: str) -> None:
        self.report.failures.append(message)

    def part(self, how: How, what: str) -> None:
        self.report.parts.append(Part(how, what))

    # -- signatures and bindings ------------------------------------------------------
    def landmarks(self) -> None:
        signed = unsigned = 0
        for lm in self.b.landmarks:
            name = printable(lm.id)
            try:
                public_key_from_b64(lm.public_key)
            except ValueError as exc:
                self.fail(f"landmark {name}: public key: {exc}")
                continue
            if self.pinned is not None:
                pinned = self.pinned.get(lm.id)
                if pinned is None:
                    self.fail(f"landmark {name} is not in the landmark directory given (--landmarks)")
                elif pinned != lm.public_key:
                    self.fail(f"landmark {name}: the bundle's key differs from the directory's (--landmarks)")
            if not lm.statements:
                unsigned += 1
            valid = []
            for n, st in enumerate(lm.statements):
                try:
                    verify_statement(st, public_key=lm.public_key, landmark_id=lm.id)
                except StatementError as exc:
                    self.fail(f"landmark {name}: position statement {n}: {exc}")
                    continue
                valid.append(st)
                self.positions.setdefault(lm.id, set()).add((st.lat, st.lon))
            signed += len(valid)
            if valid:
                newest = max(valid, key=lambda st: st.time)
                self.newest[lm.id] = (newest.lat, newest.lon)
        self.part("checked", f"landmark position statements: {signed} signed by the landmarks' own keys")
        if unsigned:
            self.part(
                "operator",
                f"{unsigned} landmark(s) without a signed position statement"
                + ("" if self.allow_unsigned else ": verdicts using them are not reproduced"),
            )
        if self.pinned is None:
            self.part(
                "operator",
                "landmark keys: as listed in the bundle; compare them with the keys the landmark operators "
                "publish (or pass --landmarks DIR.csv)",
            )
        else:
            self.part("checked", "landmark keys: each matched against the directory given (--landmarks)")

    def device(self) -> None:
        dev = self.b.device
        try:
            public_key_from_b64(dev.public_key)
        except ValueError as exc:
            self.fail(f"device {printable(dev.id)}: enrolled public key: {exc}")
        check_device_attestation(dev, self.part, self.fail)
        if dev.revoked:
            self.part("operator", "device key: revoked since; the key shown is the one enrolled")

    def records(self) -> None:
        dev = self.b.device
        for i, record in enumerate(self.b.records):
            try:
                check_device_record(record, self.keys, dev.id, dev.public_key)
            except RecordError as exc:
                self.bad_records[i] = str(exc)
                self.fail(
                    f"record {i} (landmark {printable(record.landmark_id)}, "
                    f"session {record.session_id}): {exc}"
                )
        good = len(self.b.records) - len(self.bad_records)
        self.part(
            "checked",
            f"measurement records: {good} of {len(self.b.records)} signed by the stated landmark keys, "
            f"naming device {printable(dev.id)} and its enrolled key",
        )

    def mesh(self) -> None:
        signed = unsigned = 0
        for i, entry in enumerate(self.b.mesh):
            where = f"mesh entry {i} ({printable(entry.source_id)} → {printable(entry.target_id)})"
            if entry.record is None:
                unsigned += 1
                continue
            r = entry.record
            try:
                check_mesh_record(r, self.keys)
            except RecordError as exc:
                self.bad_mesh.add(i)
                self.fail(f"{where}: {exc}")
                continue
            if (r.device_id, r.landmark_id, r.rtt_ms, r.time) != (
                entry.source_id,
                entry.target_id,
                entry.rtt_ms,
                entry.time,
            ):
                self.bad_mesh.add(i)
                self.fail(f"{where}: the pair, RTT or time differs from its signed record")
                continue
            signed += 1
        self.part(
            "checked", f"mesh records: {signed} signed by the measured landmark, probed with the prober's key"
        )
        if unsigned:
            self.part("operator", f"mesh pairs: {unsigned} sent to the server without signed records")

    # -- recomputation -------------------------------------------------------------------
    def vetting(self) -> None:
        """Vet the landmarks against each calibration's mesh, at their newest signed positions.

        A landmark without a statement is vetted at the position verdicts used for it, when
        unsigned positions are allowed; otherwise it has no position to vet.
        """
        where = dict(self.newest)
        if self.allow_unsigned:
            for v in self.b.verdicts:
                for p in v.basis.landmarks if v.basis is not None else ():
                    where.setdefault(p.id, (p.lat, p.lon))
        lms = [Landmark(i, lat, lon) for i, (lat, lon) in sorted(where.items())]
        for c, cal in enumerate(self.b.calibrations):
            if cal.kind != "mesh":
                continue
            links = [MeshLink(*pair) for pair in self._pairs(cal) if {pair[0], pair[1]} <= where.keys()]
            report = vet_landmarks(lms, links)
            self.quarantined[c] = {q.id: q.reason for q in report.quarantined}
        if self.quarantined:
            self.part("recomputed", "landmark vetting against the mesh of each calibration")

    def _pairs(self, cal: BundleCalibration) -> list[tuple[str, str, float]]:
        best: dict[tuple[str, str], float] = {}
        for i in cal.mesh:
            if i in self.bad_mesh:
                continue
            e = self.b.mesh[i]
            pair = (e.source_id, e.target_id)
            best[pair] = min(best.get(pair, math.inf), e.rtt_ms)
        return [(a, b, rtt) for (a, b), rtt in sorted(best.items())]

    def _model(self, positions: tuple[tuple[str, float, float], ...], cal: int | None) -> DelayModel | None:
        key = (positions, cal)
        if key not in self._models:
            calibration = self.b.calibrations[cal] if cal is not None else None
            if calibration is None:
                model = None
            elif calibration.kind == "model":
                model = DelayModel.from_json(calibration.model or {})
            else:
                lms = [Landmark(i, lat, lon) for i, lat, lon in positions]
                model = calibrated_model(lms, self._pairs(calibration), self.countries)
            self._models[key] = model
        return self._models[key]

    def verdict(self, n: int, v: BundleVerdict) -> VerdictCheck:
        """Check what one verdict rests on, and queue it for recomputation (:meth:`recompute`)."""
        check = VerdictCheck(n, v.time, v.verdict)
        problems = check.problems
        basis = v.basis
        if basis is None:
            problems.append("no basis stored with this verdict (made before the server kept them)")
            return check
        trusted = self._bindings(basis, problems)
        try:
            settings = EngineSettings.from_json(basis.engine)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"engine settings unusable: {exc}")
            return check
        if settings.v_max_km_per_ms > SPEED_OF_LIGHT_KM_PER_MS:
            problems.append(f"speed bound {settings.v_max_km_per_ms} km/ms is faster than light")
        rows = [(self.b.records[i].landmark_id, self.b.records[i].rtt_ms) for i in basis.records]
        rtts = round_rtts(rows, trusted)
        if "rtts_ms" in v.evidence:
            _differences(v.evidence["rtts_ms"], rtts, "rtts_ms", problems)
        positions = tuple((p.id, p.lat, p.lon) for p in basis.landmarks)
        try:
            engine = self._engine(positions, basis.calibration, settings)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"cannot build the engine from the basis: {exc}")
            return check
        self._pending.append((check, v, (engine, basis.zone), tuple(sorted(rtts.items()))))
        return check

    def _bindings(self, basis: Basis, problems: list[str]) -> set[str]:
        """Records, zone, landmark positions and vetting of one verdict; return its trusted landmark ids."""
        failed = [i for i in basis.records if i in self.bad_records]
        if failed:
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            problems.append(f"rests on record {failed[0]}{more}, which failed: {self.bad_records[failed[0]]}")
        since = basis.window.since
        for i in basis.records:
            if since is not None and self.b.records[i].time < since:
                problems.append(f"record {i} is older than the verdict's window")
        zone = self.b.zones[basis.zone]
        if zone.id != self.b.device.zone:
            problems.append(
                f"judged against zone {printable(zone.id)!r}, but the device is enrolled in "
                f"{printable(self.b.device.zone)!r}"
            )
        trusted = set()
        for p in basis.landmarks:
            trusted.add(p.id)
            backed = self.positions.get(p.id)
            if p.id not in self.keys:
                problems.append(f"landmark {printable(p.id)} is not listed in the bundle")
            elif backed is None:
                if not self.allow_unsigned:
                    problems.append(f"landmark {printable(p.id)}'s position has no signed statement")
            elif (p.lat, p.lon) not in backed:
                problems.append(
                    f"landmark {printable(p.id)} at ({p.lat}, {p.lon}) "
                    "is not where its signed statement puts it"
                )
        if basis.calibration is not None and basis.calibration in self.quarantined:
            for lid, reason in sorted(self.quarantined[basis.calibration].items()):
                if lid in trusted:
                    problems.append(f"uses landmark {printable(lid)}, which vetting quarantines: {reason}")
        return trusted

    def recompute(self) -> None:
        """Judge every pending verdict, grouped by engine and zone into one vectorised call each.

        Each distinct round is judged once: consecutive verdicts of a host usually rest on the
        same minimum RTTs (a window's minimum changes rarely), and the engine is pure.
        """
        groups: dict[tuple[int, int], tuple[Any, dict[Rtts, None]]] = {}
        for _check, _v, (engine, zone), rtts in self._pending:
            groups.setdefault((id(engine), zone), (engine, {}))[1].setdefault(rtts, None)
        judged: dict[tuple[int, int, Rtts], Judgement] = {}
        for (engine_id, zone), (engine, rounds) in groups.items():
            keys = list(rounds)
            results = judge_many(
                engine, self.b.device.id, [dict(k) for k in keys], self.b.zones[zone], with_region=False
            )
            judged.update({(engine_id, zone, k): r for k, r in zip(keys, results, strict=True)})
        for check, v, (engine, zone), rtts in self._pending:
            j = judged[(id(engine), zone, rtts)]
            problems = check.problems
            _differences(v.verdict, j.verdict, "verdict", problems)
            _differences(v.suspicious, j.suspicious, "suspicious", problems)
            _differences(v.estimate, j.estimate, "estimate", problems)
            for key, value in j.evidence.items():
                _differences(v.evidence.get(key), value, f"evidence.{key}", problems)
        self._pending.clear()

    def _engine(
        self, positions: tuple[tuple[str, float, float], ...], cal: int | None, settings: EngineSettings
    ) -> Any:
        key = (positions, cal, settings)
        if key not in self._engines:
            lms = [Landmark(i, lat, lon) for i, lat, lon in positions]
            self._engines[key] = build_engine(lms, self.countries, self._model(positions, cal), settings)
        return self._engines[key]

    def environment(self) -> None:
        bases = [v.basis for v in self.b.verdicts if v.basis is not None]
        digests = {b.countries_sha256 for b in bases if b.countries_sha256}
        if digests - {countries_sha256()}:
            self.part(
                "operator", "country table: the server's differs from this verifier's (verdicts may differ)"
            )
        versions = sorted({b.fleetproof_version for b in bases if b.fleetproof_version})
        speeds = sorted(
            {(b.engine.get("v_max_km_per_ms"), b.engine.get("allowance_ms")) for b in bases}, key=str
        )
        for v_max, allowance in speeds:
            share = float(v_max) / SPEED_OF_LIGHT_KM_PER_MS if isinstance(v_max, int | float) else math.nan
            self.part(
                "assumed",
                f"speed bound: {v_max} km per ms one way ({share:.3f} c), less {allowance} ms per RTT; "
                "2/3 c is light in fibre, and the verdicts are only as sound as this bound",
            )
        self.part("operator", "zone definition: the countries, region or site the operator set for the zone")
        self.part(
            "operator", "trusted landmark set: which landmarks the server used (vetting re-checks them)"
        )
        self.part(
            "operator",
            "relocation and peer comparison: rest on earlier verdicts and other hosts, not recomputed",
        )
        made = ", ".join(str(v) for v in versions) or "unknown"
        self.part("recomputed", f"verdicts: with fleetproof {__version__} (made with {made})")


def verify_bundle(
    bundle: Bundle,
    countries: CountryTable,
    *,
    pinned_keys: Mapping[str, str] | None = None,
    allow_unsigned_positions: bool = False,
) -> Report:
    """Check every signature and binding in ``bundle`` and recompute every verdict."""
    checker = _Checker(bundle, countries, pinned_keys, allow_unsigned_positions)
    checker.landmarks()
    checker.device()
    checker.records()
    checker.mesh()
    checker.vetting()
    checker.report.verdicts = [checker.verdict(n, v) for n, v in enumerate(bundle.verdicts)]
    if not bundle.verdicts:
        checker.fail("the bundle holds no verdicts: nothing is proven (export a window that holds some)")
    checker.recompute()
    checker.environment()
    return checker.report
