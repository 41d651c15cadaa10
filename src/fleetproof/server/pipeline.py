"""The verdict pipeline: a host's latest measurement round → engine → verdict, alerts, audit.

Ingest puts a host in the verdict queue whenever it stores a measurement record for
it. Any server process may take a queued host (the claim is a conditional UPDATE, so
exactly one does), once the host has been quiet for ``verdict_debounce_s`` so that a
round arriving in several batches is judged once. The round is the minimum RTT per
*trusted* landmark over the last ``verdict_window_s``. The engine sits behind the
small :class:`Verifier` protocol; the pipeline adds what needs history — relocation
against the host's own baseline and inconsistency with its zone's peers — stores the
result with its evidence, opens or closes alerts, and writes the verdict to the audit log.
The host-level ``suspicious`` flag needs history too: ``k`` of the last ``n`` rounds flagged
(:mod:`fleetproof.server.persistence`; the zone's own k and n, else the server's settings).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import and_, delete, or_, select, update

from fleetproof.evidence.judging import round_rtts
from fleetproof.server import audit
from fleetproof.server.alerts import raise_alert, resolve_alert
from fleetproof.server.context import ServerContext
from fleetproof.server.fingerprint import compare, peer_median, update_baseline
from fleetproof.server.persistence import Persistence
from fleetproof.server.store.db import rowcount
from fleetproof.server.store.models import Alert, Device, Landmark, Measurement, Verdict, VerdictQueue, Zone

__all__ = ["LandmarkInput", "Outcome", "Round", "Verifier", "ZonePolicy", "judge_device", "process_queue"]

log = logging.getLogger("fleetproof.server.pipeline")
CLAIM_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class LandmarkInput:
    id: str
    lat: float
    lon: float


@dataclass(frozen=True)
class ZonePolicy:
    id: str
    allowed_countries: tuple[str, ...]
    allowed_region: dict[str, Any] | None = None
    site_lat: float | None = None
    site_lon: float | None = None


@dataclass(frozen=True)
class Round:
    """What the engine is asked: these RTTs to these trusted landmarks, against this zone's policy."""

    device_id: str
    rtts_ms: dict[str, float]
    landmarks: Sequence[LandmarkInput]
    zone: ZonePolicy
    # Which measurement rows the RTTs came from, and the window: kept with the verdict (its basis).
    record_ids: tuple[int, ...] = ()
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True)
class Outcome:
    verdict: str
    suspicious: bool
    estimate: dict[str, Any] | None
    evidence: dict[str, Any] = field(default_factory=dict)
    region: dict[str, Any] | None = None
    # What the verdict rests on, for evidence bundles (``fleetproof.server.evidence``).
    basis: dict[str, Any] | None = None


class Verifier(Protocol):
    def verify(self, round_: Round) -> Outcome: ...


def _claim(ctx: ServerContext, now: float, limit: int) -> list[tuple[str, float]]:
    debounce = ctx.settings.verdict_debounce_s
    with ctx.db.read() as session:
        due = list(
            session.execute(
                select(VerdictQueue.device_id, VerdictQueue.due_at)
                .where(VerdictQueue.due_at <= now - debounce)
                .where(
                    or_(VerdictQueue.claimed_at.is_(None), VerdictQueue.claimed_at < now - CLAIM_TIMEOUT_S)
                )
                .order_by(VerdictQueue.due_at)
                .limit(limit)
            )
        )
    claimed: list[tuple[str, float]] = []
    with ctx.db.write() as session:
        for device_id, due_at in due:
            n = rowcount(
                session.execute(
                    update(VerdictQueue)
                    .where(VerdictQueue.device_id == device_id, VerdictQueue.due_at == due_at)
                    .where(
                        or_(
                            VerdictQueue.claimed_at.is_(None), VerdictQueue.claimed_at < now - CLAIM_TIMEOUT_S
                        )
                    )
                    .values(claimed_at=now)
                )
            )
            if n:
                claimed.append((device_id, due_at))
    return claimed


def process_queue(
    ctx: ServerContext, *, now: float, limit: int = 200, verifier: Verifier | None = None
) -> int:
    """Judge up to ``limit`` queued hosts; return how many verdicts were stored."""
    verifier = verifier or ctx.verifier
    if verifier is None:
        return 0
    done = 0
    for device_id, due_at in _claim(ctx, now, limit):
        try:
            judged = judge_device(ctx, verifier, device_id, now=now, due_at=due_at)
        except Exception:
            log.exception("verdict for %s failed; it stays queued", device_id)
            with ctx.db.write() as session:
                session.execute(
                    update(VerdictQueue).where(VerdictQueue.device_id == device_id).values(claimed_at=None)
                )
            continue
        if judged:
            done += 1
        else:  # nothing to judge (no trusted measurements in the window): drop it from the queue
            with ctx.db.write() as session:
                _dequeue(session, device_id, due_at)
    return done


def _dequeue(session: Any, device_id: str, due_at: float) -> None:
    """Take a judged host off the queue, unless a newer measurement re-queued it meanwhile."""
    session.execute(
        delete(VerdictQueue).where(and_(VerdictQueue.device_id == device_id, VerdictQueue.due_at == due_at))
    )
    session.execute(update(VerdictQueue).where(VerdictQueue.device_id == device_id).values(claimed_at=None))


PEER_CACHE_S = 30.0
PEER_LIMIT = 500


def _peer_fingerprints(
    ctx: ServerContext, session: Any, zone_id: str, device_id: str, now: float
) -> list[dict[str, float]]:
    """The latest fingerprints of up to 500 hosts of the zone, other than ``device_id``.

    Read at most every 30 s per zone and process: fingerprints change once a probing
    round (minutes), and reading hundreds of them for every verdict would dominate.
    """
    key = ("peers", zone_id)
    cached = ctx.cache.get(key)
    if cached is None or cached[0] < now:
        rows = session.execute(
            select(Device.id, Device.fingerprint)
            .where(Device.zone_id == zone_id, Device.fingerprint.is_not(None))
            .order_by(Device.verdict_time.desc())
            .limit(PEER_LIMIT + 1)
        ).all()
        cached = (now + PEER_CACHE_S, [(i, fp) for i, fp in rows if fp])
        ctx.cache[key] = cached
    return [fp for i, fp in cached[1] if i != device_id][:PEER_LIMIT]


def _remember_fingerprint(ctx: ServerContext, zone_id: str, device_id: str, fp: dict[str, float]) -> None:
    """Put a just-stored fingerprint into this process's peer cache, so the next verdict sees it."""
    cached = ctx.cache.get(("peers", zone_id))
    if cached is not None:
        others = [(i, f) for i, f in cached[1] if i != device_id]
        ctx.cache[("peers", zone_id)] = (cached[0], [(device_id, fp), *others][: PEER_LIMIT + 1])


def _persistence(ctx: ServerContext, zone: Zone) -> Persistence:
    """The zone's "k of the last n rounds" when it has one, else the server's."""
    if zone.suspicious_min_rounds is not None and zone.suspicious_window_rounds is not None:
        return Persistence(zone.suspicious_min_rounds, zone.suspicious_window_rounds)
    return Persistence(ctx.settings.suspicious_min_rounds, ctx.settings.suspicious_window_rounds)


def _earlier_flags(session: Any, device_id: str, rounds: int) -> list[bool]:
    """Whether each of the host's latest ``rounds`` verdicts counts as flagged, newest first.

    A row keeps the engine's own flag; a proven round does not count (see ``Persistence``).
    """
    if rounds <= 0:
        return []
    rows = session.execute(
        select(Verdict.suspicious, Verdict.verdict)
        .where(Verdict.device_id == device_id)
        .order_by(Verdict.time.desc(), Verdict.id.desc())
        .limit(rounds)
    )
    return [bool(flag) and verdict != "proven" for flag, verdict in rows]


def _load_round(
    ctx: ServerContext, device_id: str, now: float
) -> tuple[Round, list[dict[str, float]], Persistence] | None:
    with ctx.db.read() as session:
        device = session.get(Device, device_id)
        if device is None:
            return None
        zone = session.get(Zone, device.zone_id)
        trusted = {lm.id: lm for lm in session.scalars(select(Landmark).where(Landmark.trusted.is_(True)))}
        since = now - ctx.settings.verdict_window_s
        rows = session.execute(
            select(Measurement.id, Measurement.landmark_id, Measurement.rtt_ms).where(
                Measurement.device_id == device_id, Measurement.time >= since
            )
        ).all()
        rtts = round_rtts(((lm, rtt) for _id, lm, rtt in rows), trusted)
        peers = _peer_fingerprints(ctx, session, device.zone_id, device_id, now)
    if not rtts or zone is None:
        return None
    policy = ZonePolicy(
        id=zone.id,
        allowed_countries=tuple(zone.allowed_countries or ()),
        allowed_region=zone.allowed_region,
        site_lat=zone.site_lat,
        site_lon=zone.site_lon,
    )
    # Every trusted landmark, measured or not: the engine is built once per trusted set.
    landmarks = [LandmarkInput(lm.id, lm.lat, lm.lon) for _id, lm in sorted(trusted.items())]
    record_ids = tuple(sorted(i for i, lm, _rtt in rows if lm in trusted))
    return Round(device_id, rtts, landmarks, policy, record_ids, since, now), peers, _persistence(ctx, zone)


def judge_device(
    ctx: ServerContext, verifier: Verifier, device_id: str, *, now: float, due_at: float | None = None
) -> bool:
    """Run the engine for one host and store everything; False when there is nothing to judge.

    With ``due_at`` (the queue entry that was claimed) the host leaves the queue in the same
    transaction as its verdict: one commit per verdict.
    """
    loaded = _load_round(ctx, device_id, now)
    if loaded is None:
        return False
    round_, peers, persistence = loaded
    outcome = verifier.verify(round_)
    with ctx.db.write() as session:
        device = session.get(Device, device_id)
        if device is None:
            return False
        relocation = compare(round_.rtts_ms, device.baseline or {})
        peer_ref = peer_median(peers)
        peer_cmp = compare(round_.rtts_ms, peer_ref, abs_ms=10.0, rel=0.5)
        if not relocation.differs:
            device.baseline = update_baseline(device.baseline, round_.rtts_ms)
        evidence = dict(outcome.evidence)
        evidence["relocation"] = relocation.as_dict()
        evidence["peers"] = {**peer_cmp.as_dict(), "peer_count": len(peers)}
        evidence["rtts_ms"] = round_.rtts_ms
        flag = persistence.judge(
            outcome.verdict,
            outcome.suspicious,
            _earlier_flags(session, device_id, persistence.window_rounds - 1),
        )
        evidence["suspicious_persistence"] = flag.as_dict()
        session.add(
            Verdict(
                device_id=device_id,
                time=now,
                verdict=outcome.verdict,
                suspicious=outcome.suspicious,  # the engine's own flag; the host's is on the device
                estimate=outcome.estimate,
                evidence=evidence,
                region=outcome.region,
                basis=outcome.basis,
                relocated=relocation.differs,
                peer_inconsistent=peer_cmp.differs,
            )
        )
        device.verdict, device.suspicious, device.estimate = (
            outcome.verdict,
            flag.host_flagged,
            outcome.estimate,
        )
        device.verdict_time, device.fingerprint = now, round_.rtts_ms
        device.relocated, device.peer_inconsistent = relocation.differs, peer_cmp.differs
        _alerts(
            ctx,
            session,
            device,
            outcome,
            flag.host_flagged,
            relocation.differs,
            peer_cmp.differs,
            evidence,
            now,
        )
        audit.append(
            ctx.db,
            session,
            actor="server:pipeline",
            action="verdict",
            subject=device_id,
            details={
                "verdict": outcome.verdict,
                "suspicious": flag.host_flagged,
                "suspicious_round": flag.round_flagged,
                "estimate": outcome.estimate,
                "relocated": relocation.differs,
                "peer_inconsistent": peer_cmp.differs,
                "rtts_ms": round_.rtts_ms,
                "zone": round_.zone.id,
            },
            now=now,
        )
        if due_at is not None:
            _dequeue(session, device_id, due_at)
    _remember_fingerprint(ctx, round_.zone.id, device_id, round_.rtts_ms)
    ctx.metrics.inc("fleetproof_server_verdicts_total", verdict=outcome.verdict)
    return True


#: The part of a verdict's evidence that an alert of each kind carries in its details.
_ALERT_EVIDENCE = {"relocation": "relocation", "suspicious_location": "suspicious_persistence"}


def _alerts(
    ctx: ServerContext,
    session: Any,
    device: Device,
    outcome: Outcome,
    suspicious: bool,
    relocated: bool,
    peer_inconsistent: bool,
    evidence: dict[str, Any],
    now: float,
) -> None:
    """Open or close the host's location alerts; ``suspicious`` is the host-level (persistent) flag."""
    hooks = ctx.settings.webhooks
    name = device.hostname
    flagged = evidence["suspicious_persistence"]
    conditions = [
        (
            "location_violation",
            outcome.verdict == "violation",
            "critical",
            f"{name} cannot be where zone {device.zone_id} allows",
        ),
        (
            "suspicious_location",
            suspicious,
            "warning",
            f"{name}: measurements look manipulated in {flagged['flagged_rounds']} of its last "
            f"{flagged['window_rounds']} rounds",
        ),
        ("relocation", relocated, "critical", f"{name}: RTT fingerprint moved away from its baseline"),
        (
            "peer_inconsistency",
            peer_inconsistent,
            "warning",
            f"{name}: RTT fingerprint disagrees with the other hosts of zone {device.zone_id}",
        ),
    ]
    open_kinds = set(
        session.scalars(select(Alert.kind).where(Alert.device_id == device.id, Alert.closed_at.is_(None)))
    )
    for kind, active, severity, message in conditions:
        if not active and kind not in open_kinds:
            continue  # nothing to open, nothing to close
        if active:
            raise_alert(
                session,
                kind=kind,
                subject=device.id,
                device_id=device.id,
                severity=severity,
                message=message,
                details={
                    "verdict": outcome.verdict,
                    "estimate": outcome.estimate,
                    kind: evidence.get(_ALERT_EVIDENCE.get(kind, "peers")),
                },
                now=now,
                webhooks=hooks,
            )
        else:
            resolve_alert(session, kind=kind, subject=device.id, now=now, webhooks=hooks)


def rebaseline(ctx: ServerContext, device_id: str, *, actor: str, now: float) -> bool:
    """Accept a host's current fingerprint as its new baseline (after a move the operator approved)."""
    with ctx.db.write() as session:
        device = session.get(Device, device_id)
        if device is None:
            return False
        device.baseline = dict(device.fingerprint or {})
        device.relocated = False
        resolve_alert(session, kind="relocation", subject=device_id, now=now, webhooks=ctx.settings.webhooks)
        audit.append(
            ctx.db,
            session,
            actor=actor,
            action="device.rebaselined",
            subject=device_id,
            details={"baseline": device.baseline},
            now=now,
        )
    return True
