"""Planning: which sites the engine can prove now, what each proof may tolerate, what to add.

:func:`make_plan` is pure (no files, no clock); the CLI feeds it parsed inputs and the
bundled geography. In order:

1. each site's claim is its zone's, as the server makes it (:mod:`fleetproof.plan.zones`);
2. the engine judges every site with the existing landmarks at their modelled RTTs
   (:mod:`fleetproof.plan.model`), and every proven site gets its proof's budgets
   (:mod:`fleetproof.plan.proofs`): ``provable`` now is that verdict being ``proven`` with a
   joint budget of at least the minimum headroom;
3. for the others (those proven without the headroom included), geometry proposes candidate
   places (:mod:`fleetproof.plan.greedy`), and the engine judges every such site again with
   the existing landmarks *and all* the added ones (a host measures every landmark); sites the
   proposal does not prove get one more landmark at their nearest fitting place and are judged
   once more;
4. the budgets of every site proven with the added landmarks, and the headroom rule again;
   added landmarks no site needs for a proof with the headroom are dropped;
5. for every site still not provable, why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetproof.geo import CountryTable, Landmark
from fleetproof.plan.geometry import Geometry, why_not
from fleetproof.plan.greedy import greedy_cover
from fleetproof.plan.judge import Judge, Rows, Runner
from fleetproof.plan.model import DEFAULT_BUDGET_STEP_MS, DEFAULT_MIN_HEADROOM_MS, DelayPlan, EngineSettings
from fleetproof.plan.proofs import Proof, ProofLandmark, proofs
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
    #: Largest extra delay (ms) all proving landmarks may show at once (None: any; absent: no proof).
    joint_budget_ms: float | None = None
    joint_not_proven_ms: float | None = None
    #: The landmark ids a host at the site must measure for the proof (existing and added).
    measure: tuple[str, ...] = ()


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
    min_headroom_ms: float = DEFAULT_MIN_HEADROOM_MS

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
    min_headroom_ms: float = DEFAULT_MIN_HEADROOM_MS,
) -> Plan:
    """The plan for ``sites`` with ``landmarks`` in place and ``candidates`` where more could go.

    A site is provable when the engine proves it *and* its joint budget is at least
    ``min_headroom_ms``: every proving landmark may show that much more than modelled, all at once.
    """
    engine = engine or EngineSettings()
    delay = delay or DelayPlan(speed=engine.speed)
    run = _Run(
        sites, zones, landmarks, candidates, countries, country_edges, delay, engine, runner, min_headroom_ms
    )
    run.judge_now()
    run.prove_now(budget_step_ms)
    run.propose()
    run.judge_added()
    run.keep_used()
    run.prove_added(budget_step_ms)
    return Plan(
        run.site_plans(),
        run.added(),
        delay,
        engine,
        budget_step_ms,
        run.judge.rows_judged,
        tuple(landmarks),
        min_headroom_ms,
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
        min_headroom_ms: float,
    ) -> None:
        self.sites, self.candidates = sites, candidates
        self.per_place = engine.tolerance + 1
        self.min_headroom_ms = min_headroom_ms
        self.n_exist = len(landmarks)
        n = len(sites)
        self.geo = Geometry.build(
            sites,
            zones,
            landmarks,
            candidates,
            countries,
            country_edges,
            delay,
            self.per_place,
            min_headroom_ms,
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
        self.proof_now: dict[int, Proof] = {}
        self.proof_after: dict[int, Proof] = {}
        self.ok_now = np.zeros(n, dtype=bool)
        self.ok_after = np.zeros(n, dtype=bool)

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

    def _ok(self, found: Mapping[int, Proof]) -> npt.NDArray[np.bool_]:
        ok = np.zeros(len(self.sites), dtype=bool)
        for s, p in found.items():
            ok[s] = p.has_headroom(self.min_headroom_ms)
        return ok

    def prove_now(self, step_ms: float) -> None:
        """Step 4 for the sites proven now: their budgets, and whether they have the headroom."""
        chosen = np.flatnonzero(self.proven(self.now))
        self.proof_now = proofs(self.judge, self.geo, chosen, self.dep_now, step_ms, self.per_place)
        self.ok_now = self._ok(self.proof_now)

    def propose(self) -> None:
        """Step 3a: geometry's fitting places and the greedy cover of each site's demand."""
        # A site outside its zone, or nearer its border than the smallest disk, lies in every disk with
        # all of its surroundings, so no deployment proves it: it is left out from here on. A site proven
        # now without the headroom asks for landmarks that give it some.
        t = self.testable
        self.later = t[~self.ok_now[t] & self.geo.possible[t]]
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

    def keep_used(self, proven: npt.NDArray[np.bool_] | None = None) -> bool:
        """Landmarks that proved no site are not bought: the sites proven with them are judged again
        without them. Returns whether any was dropped."""
        k, base = self.per_place, self.n_exist
        for s, places in self.served.items():
            seen: dict[int, int] = {}
            mine = []
            for c in places:
                j = seen.get(c, 0)
                seen[c] = j + 1
                mine.append(base + c * k + j)
            self.instances[s] = mine
        if proven is None:
            proven = self.proven(self.after)
        self.kept = sorted({j for s, mine in self.instances.items() if proven[s] for j in mine})
        if (
            self.dep_full != self.dep_now
            and len(self.kept) < len(self.judge.deployments[self.dep_full]) - base
        ):
            self._deploy(np.array(self.kept, dtype=np.int64))
            self._judge(np.flatnonzero(self.proven(self.after)), self.dep_full, self.after)
            return True
        return False

    def prove_added(self, step_ms: float) -> None:
        """Step 4 for the sites proven with the added landmarks; landmarks that gave no site a proof
        with the headroom are then not bought either (once: the rest are judged and budgeted again)."""
        kept: dict[int, Proof] = {}
        for last in (False, True):
            chosen = np.flatnonzero(self.proven(self.after) & ~self.ok_now)
            if self.dep_full == self.dep_now:
                chosen = np.zeros(0, dtype=np.int64)
            todo = np.array([s for s in chosen.tolist() if s not in kept], dtype=np.int64)
            found = proofs(self.judge, self.geo, todo, self.dep_full, step_ms, self.per_place)
            self.proof_after = {s: kept[s] for s in chosen.tolist() if s in kept} | found
            self.ok_after = self._ok(self.proof_after)
            before = set(self.judge.deployments[self.dep_full].tolist())
            if last or not self.keep_used(self.ok_after):
                break
            # A proof none of whose landmarks that can matter was dropped is the same proof.
            dropped = before - set(self.judge.deployments[self.dep_full].tolist())
            kept = {s: p for s, p in self.proof_after.items() if not (p.matter & dropped)}

    def added(self) -> list[AddedLandmark]:
        proven = self.ok_after
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

    def site_plans(self) -> list[SitePlan]:
        """Step 5, and everything per site."""
        geo, plans = self.geo, []
        for i, site in enumerate(self.sites):
            ok_now, ok_after = bool(self.ok_now[i]), bool(self.ok_after[i]) and not self.ok_now[i]
            proof = self.proof_now.get(i) if ok_now or i not in self.proof_after else self.proof_after[i]
            reason = None
            if not ok_now and not ok_after:
                if proof is not None:
                    reason = proof.no_headroom(self.min_headroom_ms, with_added=i in self.proof_after)
                else:
                    reason = why_not(geo, i, self.now[i], self.after[i], i in self.served)
            mine = self.instances.get(i, []) if i in self.proof_after else []
            plans.append(
                SitePlan(
                    site=site,
                    zone_kind=geo.kind(i),
                    border_km=geo.site_border_km(i),
                    verdict_now=self.now[i],
                    provable_now=ok_now,
                    verdict_with_added=self.after[i],
                    provable_with_added=ok_after,
                    added=tuple(self.pool[j].id for j in mine),
                    proof=proof.landmarks if proof is not None else (),
                    why_not=reason,
                    joint_budget_ms=proof.joint_ms if proof is not None else None,
                    joint_not_proven_ms=proof.joint_not_proven_ms if proof is not None else None,
                    measure=proof.measure if proof is not None else (),
                )
            )
        return plans
