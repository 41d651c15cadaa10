"""Planning: which sites the engine can prove now, what each proof may tolerate, what to add.

:func:`make_plan` is pure (no files, no clock); the CLI feeds it parsed inputs and the
bundled geography. In order:

1. each site's claim is its zone's, as the server makes it (:mod:`fleetproof.plan.zones`);
2. the engine judges every site with the existing landmarks at their modelled RTTs
   (:mod:`fleetproof.plan.model`) — ``provable`` now is that verdict being ``proven``;
3. for the others, geometry proposes candidate places (:mod:`fleetproof.plan.greedy`), and
   the engine judges every such site again with the existing landmarks *and all* the added
   ones (a host measures every landmark); sites the proposal does not prove get one more
   landmark at their nearest fitting place and are judged once more;
4. for every provable site, the budget of the ``tolerance + 1`` landmarks that carry its
   proof (:mod:`fleetproof.plan.budget`), every other landmark held at its modelled RTT;
5. for every site still not provable, why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetproof.geo import CountryTable, Landmark
from fleetproof.geo.sphere import EARTH_RADIUS_KM
from fleetproof.plan.budget import Budget, BudgetAsk, search_grouped
from fleetproof.plan.geometry import Geometry, margin_km, why_not
from fleetproof.plan.greedy import greedy_cover
from fleetproof.plan.judge import Judge, Rows, Runner
from fleetproof.plan.model import DEFAULT_BUDGET_STEP_MS, DelayPlan, EngineSettings
from fleetproof.plan.zones import Zone

__all__ = ["AddedLandmark", "Plan", "ProofLandmark", "Site", "SitePlan", "make_plan"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Site:
    id: str
    lat: float
    lon: float
    zone: str


@dataclass(frozen=True)
class ProofLandmark:
    """A landmark that carries a proof, its modelled RTT and its budget (None: any RTT will do)."""

    landmark: str
    distance_km: float
    modelled_rtt_ms: float
    budget_rtt_ms: float | None
    not_proven_at_ms: float | None


@dataclass(frozen=True)
class SitePlan:
    site: Site
    zone_kind: str
    border_km: float | None
    verdict_now: str | None
    provable_now: bool
    verdict_with_added: str | None = None
    provable_with_added: bool = False
    added: tuple[str, ...] = ()
    proof: tuple[ProofLandmark, ...] = ()
    why_not: str | None = None


@dataclass(frozen=True)
class AddedLandmark:
    id: str
    candidate: str
    lat: float
    lon: float
    sites: int


@dataclass(frozen=True)
class Plan:
    sites: list[SitePlan]
    added: list[AddedLandmark]
    delay: DelayPlan
    engine: EngineSettings
    budget_step_ms: float
    engine_rows: int
    existing: tuple[Landmark, ...] = field(default=())

    @property
    def provable_now(self) -> int:
        return sum(p.provable_now for p in self.sites)

    @property
    def provable_with_added(self) -> int:
        return sum(p.provable_with_added for p in self.sites)


def _instance_ids(candidates: Sequence[Landmark], per_place: int, taken: set[str]) -> list[list[str]]:
    out = []
    for c in candidates:
        ids = []
        for j in range(per_place):
            name = f"{c.id}#{j + 1}"
            while name in taken:
                name += "'"
            taken.add(name)
            ids.append(name)
        out.append(ids)
    return out


def make_plan(
    sites: Sequence[Site],
    zones: Mapping[str, Zone],
    landmarks: Sequence[Landmark],
    candidates: Sequence[Landmark],
    countries: CountryTable,
    country_edges: Mapping[str, FloatArray],
    delay: DelayPlan | None = None,
    engine: EngineSettings | None = None,
    budget_step_ms: float = DEFAULT_BUDGET_STEP_MS,
    runner: Runner | None = None,
) -> Plan:
    """The plan for ``sites`` with ``landmarks`` in place and ``candidates`` where more could go."""
    engine = engine or EngineSettings()
    delay = delay or DelayPlan(speed=engine.speed)
    per_place = engine.tolerance + 1
    n_sites, n_exist = len(sites), len(landmarks)
    lat = np.array([s.lat for s in sites], dtype=np.float64)
    lon = np.array([s.lon for s in sites], dtype=np.float64)
    geo = Geometry.build(sites, zones, landmarks, candidates, countries, country_edges, delay, per_place)
    claims = [
        z.claim(sites[i].id) if (z := geo.claim_target(i)) is not None else None for i in range(n_sites)
    ]
    names = _instance_ids(candidates, per_place, {lm.id for lm in landmarks})
    pool = list(landmarks) + [
        Landmark(names[c][j], cand.lat, cand.lon)
        for c, cand in enumerate(candidates)
        for j in range(per_place)
    ]
    judge = Judge(pool, lat, lon, claims, geo.zone_number, delay, engine, countries, runner)
    existing = np.arange(n_exist, dtype=np.int64)
    dep_now = judge.add_deployment(existing)
    testable = np.flatnonzero([c is not None for c in claims])
    now: list[str | None] = [None] * n_sites
    if n_exist:
        for s, v in zip(testable.tolist(), judge.verdicts(Rows.plain(testable, dep_now)), strict=True):
            now[s] = v
    proven_now = np.array([v == "proven" for v in now], dtype=bool)

    # Geometry proposes; the engine decides.
    need = testable[~proven_now[testable] & geo.possible[testable]]
    fits = geo.fitting(need)
    demand = np.maximum(per_place - fits.existing_count[need], 1)
    in_need = np.zeros(n_sites, dtype=bool)
    in_need[need] = True
    sel = in_need[fits.pair_site]
    site_pos = np.full(n_sites, -1, dtype=np.int64)
    site_pos[need] = np.arange(need.size)
    cover = greedy_cover(
        len(candidates), site_pos[fits.pair_site[sel]], fits.pair_place[sel], demand, per_place
    )
    count = cover.count.copy()
    served = {int(need[k]): v for k, v in cover.served_by.items() if cover.demand_left[k] == 0}

    def deployment() -> tuple[int, IntArray]:
        added = np.array(
            [
                n_exist + c * per_place + j
                for c in np.flatnonzero(count).tolist()
                for j in range(int(count[c]))
            ],
            dtype=np.int64,
        )
        return judge.add_deployment(np.concatenate([existing, added])), added

    # A site outside its zone, or nearer its border than the smallest disk, lies in every disk with
    # all of its surroundings, so no deployment proves it: the engine is not asked again.
    later = testable[~proven_now[testable] & geo.possible[testable]]
    after: list[str | None] = [None] * n_sites
    dep_full = dep_now
    if count.any() and later.size:
        dep_full, _ = deployment()
        for s, v in zip(later.tolist(), judge.verdicts(Rows.plain(later, dep_full)), strict=True):
            after[s] = v
        # One repair round: a site the proposal did not prove gets one more landmark at the nearest
        # fitting place that can take it, and everything not yet proven is judged again.
        short = [s for s in served if after[s] != "proven"]
        grew = False
        for s in short:
            for c in fits.places_of(s):
                if count[c] < per_place:
                    count[c] += 1
                    served[s] = [*served[s], c]
                    grew = True
                    break
        if grew:
            dep_full, _ = deployment()
            again = np.array([s for s in later.tolist() if after[s] != "proven"], dtype=np.int64)
            for s, v in zip(again.tolist(), judge.verdicts(Rows.plain(again, dep_full)), strict=True):
                after[s] = v
    proven_after = np.array([v == "proven" for v in after], dtype=bool)

    # Landmark instances the proven sites rely on: the j-th at place c is pool index n_exist + c·k + j.
    instances: dict[int, list[int]] = {}
    for s, places in served.items():
        seen: dict[int, int] = {}
        mine = []
        for c in places:
            j = seen.get(c, 0)
            seen[c] = j + 1
            mine.append(n_exist + c * per_place + j)
        instances[s] = mine
    kept = sorted({j for s, mine in instances.items() if proven_after[s] for j in mine})
    if dep_full != dep_now and len(kept) < len(judge.deployments[dep_full]) - n_exist:
        # Landmarks that proved no site are not bought: the sites they were meant for are judged
        # without them, and so, once more, is every site proven with them.
        dep_full = judge.add_deployment(np.concatenate([existing, np.array(kept, dtype=np.int64)]))
        again = np.flatnonzero(proven_after)
        for s, v in zip(again.tolist(), judge.verdicts(Rows.plain(again, dep_full)), strict=True):
            after[s] = v
        proven_after = np.array([v == "proven" for v in after], dtype=bool)
    relying: dict[int, int] = {}
    for s, mine in instances.items():
        if proven_after[s]:
            for j in mine:
                relying[j] = relying.get(j, 0) + 1

    proof = _budgets(judge, geo, proven_now, proven_after, dep_now, dep_full, budget_step_ms, per_place)
    plans = []
    for i, site in enumerate(sites):
        reason = None
        if not proven_now[i] and not proven_after[i]:
            reason = why_not(geo, i, now[i], after[i], i in served)
        plans.append(
            SitePlan(
                site=site,
                zone_kind=geo.kind(i),
                border_km=geo.site_border_km(i),
                verdict_now=now[i],
                provable_now=bool(proven_now[i]),
                verdict_with_added=after[i],
                provable_with_added=bool(proven_after[i]),
                added=tuple(pool[j].id for j in instances.get(i, [])) if proven_after[i] else (),
                proof=proof.get(i, ()),
                why_not=reason,
            )
        )
    added = [
        AddedLandmark(
            pool[j].id, candidates[(j - n_exist) // per_place].id, pool[j].lat, pool[j].lon, relying.get(j, 0)
        )
        for j in kept
    ]
    return Plan(plans, added, delay, engine, budget_step_ms, judge.rows_judged, tuple(landmarks))


def _budgets(
    judge: Judge,
    geo: Geometry,
    proven_now: npt.NDArray[np.bool_],
    proven_after: npt.NDArray[np.bool_],
    dep_now: int,
    dep_full: int,
    step_ms: float,
    per_place: int,
) -> dict[int, tuple[ProofLandmark, ...]]:
    """Budgets of the ``tolerance + 1`` landmarks that carry each proof (see :mod:`.budget`)."""
    sites: list[int] = []
    deps: list[int] = []
    lms: list[int] = []
    spares: list[bool] = []
    for proven, dep in ((proven_now, dep_now), (proven_after & ~proven_now, dep_full)):
        chosen = np.flatnonzero(proven)
        if chosen.size == 0:
            continue
        deployed = judge.deployments[dep]
        rtt = judge.modelled_rtt(chosen, deployed)
        room = geo.room_km(chosen, deployed)  # how far each disk may grow inside the zone (−inf: not at all)
        reach = judge.delay.reach_km(_distance_km(judge, chosen, deployed))
        fitting = reach + margin_km(reach) <= room
        # Landmarks whose disk fits come first, tightest first; then the tightest of the rest.
        key = np.where(fitting, rtt, rtt + 1e6)
        take = np.argsort(key, axis=1, kind="stable")[:, :per_place]
        n_fit = fitting.sum(axis=1)
        for r, s in enumerate(chosen.tolist()):
            for j in take[r].tolist():
                sites.append(s)
                deps.append(dep)
                lms.append(int(deployed[j]))
                spares.append(bool(n_fit[r] - fitting[r, j] >= per_place))
    if not sites:
        return {}
    site = np.array(sites, dtype=np.int64)
    lm = np.array(lms, dtype=np.int64)
    dots = np.sum(judge.site_vec[site] * judge.pool_vec[lm], axis=1)
    dist = np.arccos(np.clip(dots, -1.0, 1.0)) * EARTH_RADIUS_KM
    rtt0 = judge.delay.rtt_ms(dist)
    room = _pair_room(geo, site, lm) - margin_km(judge.delay.reach_km(dist)) / 2
    guess = np.where(np.isfinite(room), judge.delay.rtt_for_reach_ms(np.maximum(room, 0.0)), rtt0)
    deployment = np.array(deps, dtype=np.int64)
    # Two landmarks of a proof at one place (two boxes in one metro) have the same disk: raising either
    # asks the engine the same question, so the second takes the first's budget.
    twin = np.arange(site.size)
    for k in range(1, site.size):
        for m in range(k - 1, -1, -1):
            if site[m] != site[k]:
                break
            if np.array_equal(judge.pool_vec[lm[m]], judge.pool_vec[lm[k]]):
                twin[k] = twin[m]
                break
    own = np.flatnonzero(twin == np.arange(site.size))
    ask = BudgetAsk(site, deployment, lm, rtt0, guess, np.array(spares, dtype=bool)).take(own)
    key = np.stack([deployment[own], lm[own], geo.zone_number[site[own]]], axis=1)
    group = np.unique(key, axis=0, return_inverse=True)[1].ravel()
    searched = search_grouped(judge, ask, group, step_ms)
    at = np.searchsorted(own, twin)
    found = Budget(searched.rtt_ms[at], searched.unbounded[at], searched.above_ms[at])
    out: dict[int, list[ProofLandmark]] = {}
    for k in range(site.size):
        out.setdefault(int(site[k]), []).append(
            ProofLandmark(
                landmark=judge.pool[int(lm[k])].id,
                distance_km=round(float(dist[k]), 2),
                modelled_rtt_ms=round(float(rtt0[k]), 4),
                budget_rtt_ms=None if found.unbounded[k] else round(float(found.rtt_ms[k]), 4),
                not_proven_at_ms=None
                if not np.isfinite(found.above_ms[k])
                else round(float(found.above_ms[k]), 4),
            )
        )
    return {s: tuple(v) for s, v in out.items()}


def _distance_km(judge: Judge, site: IntArray, landmarks: IntArray) -> FloatArray:
    dots = judge.site_vec[site] @ judge.pool_vec[landmarks].T
    return np.asarray(np.arccos(np.clip(dots, -1.0, 1.0)) * EARTH_RADIUS_KM)


def _pair_room(geo: Geometry, site: IntArray, pool: IntArray) -> FloatArray:
    """Per (site, landmark) pair: the landmark's distance to the site's zone border (−inf outside)."""
    out = np.full(site.size, -np.inf)
    pts = geo.point_of(pool)
    for number, r in geo.room.items():
        mine = geo.zone_number[site] == number
        out[mine] = r[pts[mine]]
    return out
