"""Leave-one-out accuracy, soundness and relocation detection on the WonderProxy dev set.

Protocol (all in one run, so the baselines are comparable):

1. Vet every server against the full mesh; quarantined servers are reported and
   excluded as ground truth (their advertised position is known to be wrong).
2. For each remaining server t: the other trusted servers are the landmarks, the
   mesh among them calibrates the delay model (t is left out of calibration
   entirely), and t's RTTs to them are verified with claims:
   - its own advertised position (honest self-claim),
   - its own country (honest country claim),
   - the position of every other trusted server at least 1000 km away (relocation).
3. Baselines on the same targets: shortest ping (position of the landmark with the
   smallest RTT) and plain CBG (per-landmark bestlines, centroid of the region). CBG's
   bestlines are fitted on the mesh without the target, like fleetproof's calibration;
   the figure with bestlines fitted on the whole mesh (the target's own RTTs then
   shape the disks that locate it) is printed for reference only.

    PYTHONPATH=src python benchmarks/engine_accuracy.py [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_data import DEFAULT_DATA, load_dev

from fleetproof.geo import Claim, Verifier, calibrate, distance_km, vet_landmarks
from fleetproof.geo.landmarks import LandmarkSet
from fleetproof.geo.region import feasible_cells
from fleetproof.geo.vetting import mesh_matrix
from fleetproof.geodata import load_countries


def cbg_bestlines(lms: LandmarkSet, mesh_rtt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CBG bestline (slope ms/km, intercept ms) per landmark: the line below all its (distance, RTT)
    points, at least as steep as 2/3 c, closest to them (Gueye et al., 2006)."""
    dist = distance_km(lms.lat[:, None], lms.lon[:, None], lms.lat[None, :], lms.lon[None, :])
    floor = 1.0 / 99.93
    slopes, intercepts = np.full(len(lms), floor), np.zeros(len(lms))
    for i in range(len(lms)):
        ok = np.isfinite(mesh_rtt[i])
        x, y = dist[i, ok], mesh_rtt[i, ok]
        a, b = np.triu_indices(x.size, 1)
        dx = x[b] - x[a]
        with np.errstate(divide="ignore", invalid="ignore"):
            m = np.concatenate([(y[b] - y[a]) / dx, [floor]])
        c = np.concatenate([y[a] - m[:-1] * x[a], [float(np.min(y - floor * x))]])
        good = np.isfinite(m) & (m >= floor) & (c >= 0)
        m, c = m[good], c[good]
        below = np.all(y[None, :] >= m[:, None] * x[None, :] + c[:, None] - 1e-9, axis=1)
        m, c = m[below], c[below]
        if m.size:
            k = int(np.argmin(y.sum() - m * x.sum() - c * x.size))
            slopes[i], intercepts[i] = m[k], c[k]
    return slopes, intercepts


def cbg_estimate(
    lms: LandmarkSet, slopes: np.ndarray, intercepts: np.ndarray, row: np.ndarray
) -> tuple[float, float]:
    """Plain CBG: disks from the bestlines, centroid of their intersection (cells of 0.5°)."""
    grid = load_countries().grid
    ok = np.isfinite(row)
    radius_km = np.maximum(row[ok] - intercepts[ok], 0.0) / slopes[ok]
    rad = np.minimum(radius_km * 1.006 / 6371.0088 + 1e-6, np.pi)
    cells = np.zeros(0, dtype=np.int64)
    tol = 0
    while cells.size == 0 and tol < 5:  # bestlines are not bounds: relax until the region is not empty
        cells, _ = feasible_cells(grid, lms.vectors[ok], rad, tolerance=tol)
        tol += 1
    v = grid.centers[cells].sum(axis=0)
    if not cells.size:  # even five bestline disks left out did not give a region
        return float("nan"), float("nan")
    v /= np.linalg.norm(v)
    return float(np.degrees(np.arcsin(v[2]))), float(np.degrees(np.arctan2(v[1], v[0])))


def destinations(lat: float, lon: float, km: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points ``km`` from (lat, lon) in evenly spread directions (degrees)."""
    la, lo = np.radians(lat), np.radians(lon)
    d = km / 6371.0088
    b = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    la2 = np.arcsin(np.sin(la) * np.cos(d) + np.cos(la) * np.sin(d) * np.cos(b))
    lo2 = lo + np.arctan2(np.sin(b) * np.sin(d) * np.cos(la), np.cos(d) - np.sin(la) * np.sin(la2))
    return np.degrees(la2), (np.degrees(lo2) + 540.0) % 360.0 - 180.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--no-cbg", action="store_true", help="skip the (slow) plain-CBG baseline")
    a = ap.parse_args()
    t_start = time.perf_counter()
    servers, mesh = load_dev(a.data)
    countries = load_countries()
    report = vet_landmarks(servers, mesh)
    print(
        f"{len(servers)} servers, {len(mesh)} pairs; quarantined by vetting: "
        + ", ".join(f"{q.id} ({q.conflicts} conflicts)" for q in report.quarantined)
    )
    trusted = [s for s in servers if s.id in set(report.trusted)]
    allset = LandmarkSet(trusted)
    full_rtt = mesh_matrix(allset, mesh)
    slopes, intercepts = cbg_bestlines(allset, full_rtt)
    errs, sp_errs, cbg_errs, cbg_leak_errs, country_ok, self_susp, self_viol, cc_viol, cc_proven = (
        [],
        [],
        [],
        [],
        [],
        [],
        [],
        [],
        [],
    )
    reloc_flag, reloc_viol, reloc_n, cbg_fallback = 0, 0, 0, 0
    unvetted_viol: list[bool] = []
    radius_cover = []
    for k, t in enumerate(trusted):
        others = [s for s in trusted if s.id != t.id]
        keep = np.arange(len(trusted)) != k
        om = [m for m in mesh if t.id not in (m.a, m.b) and m.a in allset.index and m.b in allset.index]
        model = calibrate(others, om, countries=countries)
        v = Verifier(others, countries, model=model)
        row = full_rtt[k, keep]
        claims = [Claim.point("self", t.id, t.lat, t.lon)]
        if t.country:
            claims.append(Claim.country("country", t.id, t.country))
        far = [s for s in others if float(distance_km(s.lat, s.lon, t.lat, t.lon)) >= 1000.0]
        claims += [Claim.point(f"to-{s.id}", t.id, s.lat, s.lon) for s in far]
        res = v.verify_matrix([t.id], row[None, :], [(0, c) for c in claims])
        # Without vetting: the mislocated servers stay landmarks; the tolerance alone must keep this sound.
        raw_others = [s for s in servers if s.id != t.id]
        raw = Verifier(raw_others, countries, model=model)
        raw_row = raw.rtt_row({m.b if m.a == t.id else m.a: m.rtt_ms for m in mesh if t.id in (m.a, m.b)})
        unvetted_viol.append(
            raw.verify_matrix([t.id], raw_row[None, :], [(0, claims[0])])[0].verdict == "violation"
        )
        r0 = res[0]
        e = r0.estimate
        err = float(distance_km(e.lat, e.lon, t.lat, t.lon))
        errs.append(err)
        radius_cover.append(err <= (e.radius_km or 0))
        country_ok.append(e.country == t.country)
        self_susp.append(r0.suspicious)
        self_viol.append(r0.verdict == "violation")
        if t.country:
            cc_viol.append(res[1].verdict == "violation")
            cc_proven.append(res[1].verdict == "proven")
        for r in res[2 if t.country else 1 :]:
            reloc_n += 1
            reloc_viol += r.verdict == "violation"
            reloc_flag += r.verdict == "violation" or r.suspicious
        j = int(np.nanargmin(np.where(np.isfinite(row), row, np.inf)))
        sp_errs.append(float(distance_km(others[j].lat, others[j].lon, t.lat, t.lon)))
        if not a.no_cbg:
            la, lo = cbg_estimate(LandmarkSet(others), slopes[keep], intercepts[keep], row)
            cbg_leak_errs.append(float(distance_km(la, lo, t.lat, t.lon)))
            own = cbg_bestlines(LandmarkSet(others), full_rtt[np.ix_(keep, keep)])
            la, lo = cbg_estimate(LandmarkSet(others), own[0], own[1], row)
            # No region even with five disks left out: fall back to shortest ping, as a deployment would.
            cbg_fallback += not np.isfinite(la + lo)
            cbg_errs.append(float(distance_km(la, lo, t.lat, t.lon)) if np.isfinite(la + lo) else sp_errs[-1])
    errs_a = np.array(errs)
    print(f"targets (trusted servers, each left out): {len(errs)}")

    def line(name: str, x: list[float], note: str = "") -> None:
        arr = np.array(x)
        print(
            f"  {name:<22} median {np.median(arr):6.0f} km   p90 {np.percentile(arr, 90):6.0f} km   "
            f"mean {arr.mean():6.0f} km{note}"
        )

    print("estimate error:")
    line("fleetproof", errs)
    line("shortest ping", sp_errs)
    if cbg_errs:
        line("plain CBG", cbg_errs, f"   ({cbg_fallback} fell back to shortest ping)" if cbg_fallback else "")
        line("CBG, target in its fit", cbg_leak_errs)
    print(f"  median ratio fleetproof / shortest ping: {np.median(errs_a) / np.median(sp_errs):.2f}")
    # How much of the country figure the error sizes alone decide: each truth moved by its own error
    # (and by half of it) in evenly spread directions, and the country found there.
    spread: dict[float, list[float]] = {1.0: [], 0.5: []}
    for t, err in zip(trusted, errs, strict=True):
        for f, hits in spread.items():
            la, lo = destinations(t.lat, t.lon, err * f, 36)
            found = [countries.country_at(float(x), float(y)) for x, y in zip(la, lo, strict=True)]
            hits.append(float(np.mean([c == t.country for c in found])))
    print(
        f"  country at the same error in 36 directions: {np.mean(spread[1.0]):.1%}; "
        f"at half the error: {np.mean(spread[0.5]):.1%}"
    )
    print(
        f"country correct: {np.mean(country_ok):.1%}; "
        f"90% radius covers the truth for {np.mean(radius_cover):.1%}"
    )
    print(
        f"soundness: false violations on honest self-claims {int(np.sum(self_viol))} / {len(self_viol)}, "
        f"on honest country claims {int(np.sum(cc_viol))} / {len(cc_viol)}; proven country claims "
        f"{int(np.sum(cc_proven))}"
    )
    print(
        f"soundness without vetting (mislocated servers kept as landmarks): false violations on honest "
        f"self-claims {int(np.sum(unvetted_viol))} / {len(unvetted_viol)}"
    )
    print(
        f"suspicious on honest self-claims: {np.mean(self_susp):.1%} "
        f"({int(np.sum(self_susp))} / {len(self_susp)})"
    )
    print(
        f"relocation (claims >= 1000 km away): {reloc_flag / reloc_n:.1%} violation-or-suspicious, "
        f"{reloc_viol / reloc_n:.1%} violation ({reloc_n} claims)"
    )
    # The quarantined servers are not honest ground truth; show what their own claims get.
    model = calibrate(trusted, mesh, countries=countries)
    v = Verifier(trusted, countries, model=model)
    for q in report.quarantined:
        s = next(x for x in servers if x.id == q.id)
        row = v.rtt_row({m.b if m.a == s.id else m.a: m.rtt_ms for m in mesh if s.id in (m.a, m.b)})
        [r] = v.verify_matrix([s.id], row[None, :], [(0, Claim.point("self", s.id, s.lat, s.lon))])
        e = r.estimate
        print(
            f"quarantined server {s.id} claiming its advertised position: {r.verdict}"
            f"{', suspicious' if r.suspicious else ''}; estimated {e.lat}, {e.lon} ({e.country}), "
            f"{float(distance_km(e.lat, e.lon, s.lat, s.lon)):.0f} km from the advertised position"
        )
    print(f"time {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
