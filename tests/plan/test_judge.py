"""The judge leaves far landmarks out of each engine call; its verdicts must be those of the engine
with every landmark, RTTs raised or not."""

from __future__ import annotations

import numpy as np
import pytest

from fleetproof.batch.csvio import read_landmarks
from fleetproof.geo import Landmark, Verifier, distance_km
from fleetproof.geodata import load_countries
from fleetproof.plan import judge as judge_module
from fleetproof.plan.judge import Judge, Rows
from fleetproof.plan.metros import metros_path
from fleetproof.plan.model import DelayPlan, EngineSettings
from fleetproof.plan.zones import Zone


def test_pruned_rows_give_the_full_engines_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    countries = load_countries()
    rng = np.random.default_rng(7)
    metros = read_landmarks(metros_path())[:120]
    sites = [(50.1, 8.7, "DE"), (52.5, 13.3, "DE"), (48.9, 2.4, "FR"), (45.8, 4.8, "FR"), (40.4, -3.7, "ES")]
    near = []
    for k, (lat, lon, _) in enumerate(sites):  # two landmarks within a few km of each site
        for j in range(2):
            near.append(Landmark(f"n{k}-{j}", lat + rng.uniform(-0.05, 0.05), lon + rng.uniform(-0.05, 0.05)))
    pool = near + list(metros)
    delay, engine = DelayPlan(), EngineSettings()
    zones = [Zone(c, (c,)) for _, _, c in sites]
    lat = np.array([s[0] for s in sites])
    lon = np.array([s[1] for s in sites])
    claims = [z.claim(f"s{i}") for i, z in enumerate(zones)]
    judge = Judge(pool, lat, lon, claims, np.arange(len(sites)), delay, engine, countries)
    dep = judge.add_deployment(np.arange(len(pool)))
    widths: list[int] = []
    block = judge._block

    def recording(rows: Rows, idx: np.ndarray) -> list[str | None]:
        widths.append(int(judge._needed(*_block_inputs(judge, rows, idx)).size))
        return block(rows, idx)

    monkeypatch.setattr(judge, "_block", recording)
    # Each site: as modelled, and each of its near landmarks raised by 0.3, 0.6, 1.2 and 5 ms.
    site, over, value = [], [], []
    for k in range(len(sites)):
        site.append(k)
        over.append(-1)
        value.append(np.nan)
        for j in range(2):
            base = float(judge.modelled_rtt(np.array([k]), np.array([2 * k + j]))[0, 0])
            for extra in (0.3, 0.6, 1.2, 5.0):
                site.append(k)
                over.append(2 * k + j)
                value.append(base + extra)
    rows = Rows(np.array(site), np.full(len(site), dep), np.array(over), np.array(value))
    got = judge.verdicts(rows)
    assert max(widths) < len(pool) // 2  # far landmarks were left out
    full = Verifier(pool, countries)
    for r in range(len(site)):
        k = site[r]
        d = distance_km(lat[k], lon[k], [p.lat for p in pool], [p.lon for p in pool])
        rtts = dict(zip([p.id for p in pool], delay.rtt_ms(d).tolist(), strict=True))
        if over[r] >= 0:
            rtts[pool[over[r]].id] = value[r]
        claim = claims[k]
        assert claim is not None
        assert full.verify(rtts, [claim])[0].verdict == got[r], (k, over[r], value[r])
    assert {"proven", "consistent"} <= set(got)
    assert np.radians(0.36) < judge_module.SPARE_RAD  # more than a 0.5° cell's reach from its centre


def _block_inputs(judge: Judge, rows: Rows, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    deployed = judge.deployments[int(rows.deployment[idx[0]])]
    sites = rows.site[idx]
    ang = np.arccos(np.clip(judge.site_vec[sites] @ judge.pool_vec[deployed].T, -1.0, 1.0))
    rtt = judge.delay.rtt_ms(ang * 6371.0088)
    return ang, rtt
