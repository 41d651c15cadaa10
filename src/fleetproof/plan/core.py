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
            # Letters, digits and ``._:-`` only, so that the server registers the planned name as it is.
            name = f"{c.id}.{j + 1}"
            while name in taken:
                name += "_"
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
    run = _Run(sites, zones, landmarks, candidates, countries, country_edges, delay, engine, runner)
    run.judge_now()
    run.propose()
    run.judge_added()
    run.keep_used()
    proof = _budgets(
        run.judge,
        run.geo,
        run.proven(run.now),
        run.proven(run.after),
        run.dep_now,
        run.dep_full,
        budget_step_ms,
        run.per_place,
    )
    return Plan(
        run.site_plans(proof),
        run.added(),
        delay,
        engine,
        budget_step_ms,
        run.judge.rows_judged,
        tuple(landmarks),
    )


class _Run:
    """One plan's state between its steps (see the module docstring)."""

    def __init__(
        self,
        sites: Sequence[Site],
        zones: Mapping[str, Zone],
        landmarks: Sequence[Landmark],
        candidates: Sequence[Landmark],
        countries: CountryTable,
        country_edges: Mapping[str, FloatArray],
        delay: DelayPlan,
        engine: EngineSettings,
        runner: Runner | None,
    ) -> None:
        self.sites, self.candidates = sites, candidates
        self.per_place = engine.tolerance + 1
        self.n_exist = len(landmarks)
        n = len(sites)
        self.geo = Geometry.build(
            sites, zones, landmarks, candidates, countries, country_edges, delay, self.per_place
        )
        claims = [
            z.claim(sites[i].id) if (z := self.geo.claim_target(i)) is not None else None for i in range(n)
        ]
        names = _instance_ids(candidates, self.per_place, {lm.id for lm in landmarks})
        self.pool = list(landmarks) + [
            Landmark(names[c][j], cand.lat, cand.lon)
            for c, cand in enumerate(candidates)
            for j in range(self.per_place)
        ]
        lat = np.array([s.lat for s in sites], dtype=np.float64)
        lon = np.array([s.lon for s in sites], dtype=np.float64)
        self.judge = Judge(
            self.pool, lat, lon, claims, self.geo.zone_number, delay, engine, countries, runner
        )
        self.existing = np.arange(self.n_exist, dtype=np.int64)
        self.dep_now = self.judge.add_deployment(self.existing)
        self.dep_full = self.dep_now
        self.testable = np.flatnonzero([c is not None for c in claims])
        self.now: list[str | None] = [None] * n
        self.after: list[str | None] = [None] * n
        self.count = np.zeros(len(candidates), dtype=np.int64)
        self.served: dict[int, list[int]] = {}
        self.instances: dict[int, list[int]] = {}
        self.kept: list[int] = []

    @staticmethod
    def proven(verdicts: list[str | None]) -> npt.NDArray[np.bool_]:
        return np.array([v == "proven" for v in verdicts], dtype=bool)

    def _judge(self, sites: IntArray, deployment: int, into: list[str | None]) -> None:
        for s, v in zip(sites.tolist(), self.judge.verdicts(Rows.plain(sites, deployment)), strict=True):
            into[s] = v

    def judge_now(self) -> None:
        """Step 2: every testable site, existing landmarks at their modelled RTTs."""
        if self.n_exist:
            self._judge(self.testable, self.dep_now, self.now)

    def propose(self) -> None:
        """Step 3a: geometry's fitting places and the greedy cover of each site's demand."""
        # A site outside its zone, or nearer its border than the smallest disk, lies in every disk with
        # all of its surroundings, so no deployment proves it: it is left out from here on.
        t = self.testable
        self.later = t[~self.proven(self.now)[t] & self.geo.possible[t]]
        need = self.later
        self.fits = self.geo.fitting(need)
        demand = np.maximum(self.per_place - self.fits.existing_count[need], 1)
        site_pos = np.full(len(self.sites), -1, dtype=np.int64)
        site_pos[need] = np.arange(need.size)
        sel = site_pos[self.fits.pair_site] >= 0
        cover = greedy_cover(
            len(self.candidates),
            site_pos[self.fits.pair_site[sel]],
            self.fits.pair_place[sel],
            demand,
            self.per_place,
        )
        self.count = cover.count.copy()
        self.served = {int(need[k]): v for k, v in cover.served_by.items() if cover.demand_left[k] == 0}

    def _deploy(self, added: IntArray) -> None:
        self.dep_full = self.judge.add_deployment(np.concatenate([self.existing, added]))

    def _counted(self) -> IntArray:
        """Pool indices of the landmarks added so far: the j-th at place c is ``n_exist + c·k + j``."""
        k, base = self.per_place, self.n_exist
        return np.array(
            [
                base + c * k + j
                for c in np.flatnonzero(self.count).tolist()
                for j in range(int(self.count[c]))
            ],
            dtype=np.int64,
        )

    def judge_added(self) -> None:
        """Step 3b: the engine with every added landmark, and one repair round."""
        if not self.count.any() or self.later.size == 0:
            return
        self._deploy(self._counted())
        self._judge(self.later, self.dep_full, self.after)
        # A site the proposal did not prove gets one more landmark at the nearest fitting place that
        # can take it, and everything not yet proven is judged again.
        grew = False
        for s in [s for s in self.served if self.after[s] != "proven"]:
            for c in self.fits.places_of(s):
                if self.count[c] < self.per_place:
                    self.count[c] += 1
                    self.served[s] = [*self.served[s], c]
                    grew = True
                    break
        if grew:
            self._deploy(self._counted())
            again = np.array([s for s in self.later.tolist() if self.after[s] != "proven"], dtype=np.int64)
            self._judge(again, self.dep_full, self.after)

    def keep_used(self) -> None:
        """Landmarks that proved no site are not bought: the sites proven with them are judged again
        without them."""
        k, base = self.per_place, self.n_exist
        for s, places in self.served.items():
            seen: dict[int, int] = {}
            mine = []
            for c in places:
                j = seen.get(c, 0)
                seen[c] = j + 1
                mine.append(base + c * k + j)
            self.instances[s] = mine
        proven = self.proven(self.after)
        self.kept = sorted({j for s, mine in self.instances.items() if proven[s] for j in mine})
        if (
            self.dep_full != self.dep_now
            and len(self.kept) < len(self.judge.deployments[self.dep_full]) - base
        ):
            self._deploy(np.array(self.kept, dtype=np.int64))
            self._judge(np.flatnonzero(proven), self.dep_full, self.after)

    def added(self) -> list[AddedLandmark]:
        proven = self.proven(self.after)
        relying: dict[int, int] = {}
        for s, mine in self.instances.items():
            if proven[s]:
                for j in mine:
                    relying[j] = relying.get(j, 0) + 1
        return [
            AddedLandmark(
                self.pool[j].id,
                self.candidates[(j - self.n_exist) // self.per_place].id,
                self.pool[j].lat,
                self.pool[j].lon,
                relying.get(j, 0),
            )
            for j in self.kept
        ]

    def site_plans(self, proof: Mapping[int, tuple[ProofLandmark, ...]]) -> list[SitePlan]:
        """Step 5, and everything per site."""
        proven_now, proven_after = self.proven(self.now), self.proven(self.after)
        geo, plans = self.geo, []
        for i, site in enumerate(self.sites):
            reason = None
            if not proven_now[i] and not proven_after[i]:
                reason = why_not(geo, i, self.now[i], self.after[i], i in self.served)
            mine = self.instances.get(i, []) if proven_after[i] else []
            plans.append(
                SitePlan(
                    site=site,
                    zone_kind=geo.kind(i),
                    border_km=geo.site_border_km(i),
                    verdict_now=self.now[i],
                    provable_now=bool(proven_now[i]),
                    verdict_with_added=self.after[i],
                    provable_with_added=bool(proven_after[i]),
                    added=tuple(self.pool[j].id for j in mine),
                    proof=proof.get(i, ()),
                    why_not=reason,
                )
            )
        return plans


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
