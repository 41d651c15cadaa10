"""Estimates: the most likely place of each target, its uncertainty and its country.

Vectorised over targets. For every target the ``k_nearest`` landmarks with the
smallest RTTs define a log-likelihood over positions (the distance-given-RTT
densities of :class:`~fleetproof.geo.model.DelayModel`, plus a heavy penalty per
speed-bound disk a position falls outside). It is evaluated on a local grid
centred on the nearest landmark and spanning its likely distance, then on a
finer grid around the best point. The nearest landmark's term counts
``NEAREST_WEIGHT`` times: it is the most informative, and the others' errors are
correlated (they share the target's access link and routes). A prior (hosts sit
on land, near where people live) weights the posterior that gives the point,
the country and its probability and the radius holding 90 % of the posterior
mass.

The point is the posterior mean of the mode around the best grid point (within
``LOCAL_KM``), not the best point itself: the likelihood is flat-topped over a
few hundred kilometres, and where in that plateau its maximum falls is mostly
noise. The mean is taken under a likelihood tempered by ``LOCAL_TEMPERATURE``,
because the terms are not independent, so their product is sharper than the
evidence. Only the local mode is averaged: a mean over distant modes would land
between them, where the target is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fleetproof.geo.countries import CountryTable
from fleetproof.geo.model import RATIO_BINS, RATIO_MAX, DelayModel
from fleetproof.geo.speed import SpeedModel
from fleetproof.geo.sphere import EARTH_RADIUS_KM, lat_lon

__all__ = ["EstimateBatch", "TargetTerms", "estimate_batch", "log_likelihood"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Log-likelihood charged per speed-bound disk a position is outside of (soft: one bad landmark cannot veto).
BOUND_PENALTY = 50.0
COARSE = 21
FINE = 9
PEAKS = 1
OCEAN_PRIOR = 0.02
#: Weight of the nearest (smallest-RTT) landmark's term relative to the others.
NEAREST_WEIGHT = 3.0
#: Population prior: log(1 + people within ~POP_SIGMA_KM / POP_SCALE) is added to the log prior.
POP_SCALE = 1e5
POP_SIGMA_KM = 55.0
RADIUS_QUANTILE = 0.9
#: The estimate averages the posterior within this distance of its best point, likelihood tempered by ...
LOCAL_KM = 300.0
#: ... this factor (see the module docstring).
LOCAL_TEMPERATURE = 2.0
#: Smallest corrected RTT (ms): an access delay never turns a measurement into a zero distance.
MIN_RTT_MS = 0.05
#: Terms whose disk is narrower than this (radians, ~127 km) get their angles in float64 (see
#: :func:`log_likelihood`); wider ones are resolved in float32 well within the bound's slack.
PRECISE_RAD = 0.02


@dataclass(frozen=True)
class TargetTerms:
    """Per-target likelihood inputs for the ``k`` chosen landmarks, shapes (T, K); float32 for speed.

    A term that has no measurement points at an all-zero row of the density table
    and has an infinite bound, so it adds nothing without a mask.
    """

    vecs: npt.NDArray[np.float32]  # (T, K, 3)
    index: IntArray  # landmark column of each term
    row_base: npt.NDArray[np.int32]  # offset of the term's RTT bin in the flat density table
    bins_per_rad: npt.NDArray[np.float32]  # ratio bins per radian of distance
    bound_rad: npt.NDArray[np.float32]  # the physical bound (inf when no measurement)
    valid: npt.NDArray[np.bool_]

    def rows(self, rows: IntArray | slice) -> TargetTerms:
        """The terms of some targets only."""
        return TargetTerms(
            self.vecs[rows],
            self.index[rows],
            self.row_base[rows],
            self.bins_per_rad[rows],
            self.bound_rad[rows],
            self.valid[rows],
        )


@dataclass(frozen=True)
class EstimateBatch:
    """Estimates for T targets; NaN / -1 where a target has no valid measurement."""

    lat: FloatArray
    lon: FloatArray
    radius_km: FloatArray
    country: IntArray  # index into CountryTable.codes, -1 for none
    country_p: FloatArray
    max_ll: FloatArray  # best log-likelihood without the prior, for likelihood-ratio tests
    terms: TargetTerms


def select_terms(
    rtt: FloatArray,
    lm_vecs: FloatArray,
    offsets: FloatArray,
    scales: FloatArray,
    model: DelayModel,
    speed: SpeedModel,
    k: int,
) -> TargetTerms:
    """Pick each target's ``k`` smallest-RTT landmarks and their distance model terms."""
    k = max(1, min(k, rtt.shape[1]))
    filled = np.where(np.isfinite(rtt), rtt, np.inf)
    idx = np.argpartition(filled, k - 1, axis=1)[:, :k] if k < rtt.shape[1] else np.argsort(filled, axis=1)
    r = np.take_along_axis(filled, idx, axis=1)
    order = np.argsort(r, axis=1)
    idx, r = np.take_along_axis(idx, order, axis=1), np.take_along_axis(r, order, axis=1)
    valid = np.isfinite(r)
    r0 = np.where(valid, r, 0.0)
    rc = np.maximum(r0 - offsets[idx], MIN_RTT_MS)
    scale_km = np.maximum(speed.max_distance_km(rc) * scales[idx], 1.0)
    n_rows = model.log_density.shape[0]
    row_base = np.where(valid, model.rtt_bin(rc), n_rows) * RATIO_BINS
    bins_per_rad = np.where(valid, EARTH_RADIUS_KM * RATIO_BINS / (RATIO_MAX * scale_km), 0.0)
    return TargetTerms(
        lm_vecs[idx].astype(np.float32),
        idx,
        row_base.astype(np.int32),
        bins_per_rad.astype(np.float32),
        np.where(valid, speed.max_angle_rad(r0), np.inf).astype(np.float32),
        valid,
    )


def log_likelihood(points: FloatArray, t: TargetTerms, model: DelayModel) -> FloatArray:
    """Log-likelihood (T, P) of points (T, P, 3) under each target's terms, up to a per-target constant.

    The constant (the density's ``1/scale`` Jacobian) cancels in everything the
    engine does with it: argmax, posterior weights and likelihood ratios within a
    target. Computed in float32 (distance error < 1 km, under 60 m for disks wider than
    ``PRECISE_RAD``; narrower ones in float64), the dominant cost of estimation.
    """
    dots = np.matmul(points.astype(np.float32, copy=False), t.vecs.transpose(0, 2, 1))
    np.clip(dots, -1.0, 1.0, out=dots)
    ang = np.arccos(dots, out=dots)
    # Near a landmark float32 cannot resolve the angle: 1 − cos θ ≈ θ²/2 drowns in float32's
    # spacing below 1 (6e-8), about a kilometre at 5 km, more than the bound's slack, so an honest
    # host at its bound would be charged BOUND_PENALTY. Tight disks' terms are redone in float64.
    # (Vectors rounded to float32 are no longer of unit length, by as much: normalised again first.)
    close_t, close_k = np.nonzero(t.bound_rad < PRECISE_RAD)
    if close_t.size:
        p64 = np.asarray(points, dtype=np.float64)[close_t]
        p64 /= np.linalg.norm(p64, axis=2, keepdims=True)
        v64 = t.vecs[close_t, close_k].astype(np.float64)
        v64 /= np.linalg.norm(v64, axis=1, keepdims=True)
        d64 = np.einsum("npc,nc->np", p64, v64)
        ang[close_t, :, close_k] = np.arccos(np.clip(d64, -1.0, 1.0))
    outside = ang > t.bound_rad[:, None, :]
    # In place and in float32 throughout: every temporary here is (T, P, K), the largest arrays of a run.
    q = np.multiply(ang, t.bins_per_rad[:, None, :], out=ang).astype(np.int32)
    np.minimum(q, RATIO_BINS - 1, out=q)
    q += t.row_base[:, None, :]
    dens = model.flat_log_density()[q]
    np.subtract(dens, np.float32(BOUND_PENALTY), out=dens, where=outside)
    dens[:, :, 0] *= NEAREST_WEIGHT
    return np.asarray(dens.sum(axis=2, dtype=np.float64))


def _tangent_grid(
    center: npt.NDArray[np.floating[Any]], half_rad: FloatArray, n: int
) -> tuple[FloatArray, FloatArray]:
    """Points (T, n², 3) on an n×n grid of tangent-plane offsets around each centre, and the step (T,).

    Offsets are mapped onto the sphere along great circles (the exponential map), so a
    grid step is the same distance everywhere, poles included.
    """
    c = np.asarray(center, dtype=np.float64)
    east = np.cross(np.array([0.0, 0.0, 1.0]), c)
    norm = np.linalg.norm(east, axis=1, keepdims=True)
    east = np.where(norm > 1e-12, east / np.maximum(norm, 1e-12), np.array([0.0, 1.0, 0.0]))
    basis = np.stack([c, east, np.cross(c, east)], axis=1).astype(np.float32)  # (T, 3, 3)
    s = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    su, sv = (g.ravel() for g in np.meshgrid(s, s, indexing="ij"))
    h = half_rad.astype(np.float32)[:, None]
    r = np.hypot(su, sv)[None, :] * h
    sinc = np.where(r > 0, np.sin(r) / np.where(r > 0, r, 1.0), 1.0)
    coef = np.stack([np.cos(r), sinc * su[None, :] * h, sinc * sv[None, :] * h], axis=2)  # (T, P, 3)
    return np.matmul(coef, basis), 2.0 * half_rad / (n - 1)


def estimate_batch(
    rtt: FloatArray,
    lm_vecs: FloatArray,
    offsets: FloatArray,
    scales: FloatArray,
    model: DelayModel,
    speed: SpeedModel,
    countries: CountryTable | None,
) -> EstimateBatch:
    """Estimate T targets from their RTT rows (T, L) to landmarks with unit vectors (L, 3).

    ``offsets`` (L,) are the landmarks' access delays (ms) and ``scales`` (L,) their distance
    scales, both from calibration. The radius never reaches beyond the tightest disk
    (:func:`_bound_reach`).
    """
    t = select_terms(rtt, lm_vecs, offsets, scales, model, speed, model.k_nearest)
    n_t = rtt.shape[0]
    has = t.valid[:, 0]
    # Every place inside all disks is within ang(centre, L_k) + R_k of the centre, for each k.
    centre = t.vecs[:, 0, :]
    to_k = np.arccos(np.clip(np.einsum("tkc,tc->tk", t.vecs, centre), -1.0, 1.0))
    reach = np.min(np.where(t.valid, to_k + t.bound_rad, np.pi), axis=1)
    half = np.clip(reach, 100.0 / EARTH_RADIUS_KM, np.pi / 2)
    coarse, step = _tangent_grid(centre, half, COARSE)
    ll_c = log_likelihood(coarse, t, model)
    cells_c = _cells(coarse, countries)
    prior_c = _log_prior(cells_c, countries)
    # Refine around the best few coarse points (the likelihood can have several peaks).
    m = min(PEAKS, coarse.shape[1])
    top = np.argpartition(-(ll_c + prior_c), m - 1, axis=1)[:, :m]
    centres = np.take_along_axis(coarse, top[:, :, None], axis=1)  # (T, m, 3)
    fine_parts = [_tangent_grid(centres[:, j, :], 1.5 * step, FINE) for j in range(m)]
    fine = np.concatenate([f for f, _ in fine_parts], axis=1)
    fstep = fine_parts[0][1]
    ll_f = log_likelihood(fine, t, model)
    cells_f = _cells(fine, countries)
    prior_f = _log_prior(cells_f, countries)
    fbest = np.argmax(ll_f + prior_f, axis=1)
    best = fine[np.arange(n_t), fbest]
    # Posterior over both grids, points weighted by their cell area; coarse points a fine grid covers drop.
    near = np.einsum("tpk,tmk->tpm", coarse.astype(np.float64), centres.astype(np.float64)).max(axis=2)
    cover = np.arccos(np.clip(near, -1, 1)) <= 1.5 * step[:, None]
    area_c = 2 * np.log(step)[:, None] - np.where(cover, np.inf, 0.0)
    area_f = np.broadcast_to(2 * np.log(fstep)[:, None], ll_f.shape)
    area = np.concatenate([area_c, area_f], axis=1)
    pts = np.concatenate([coarse, fine], axis=1)
    ll = np.concatenate([ll_c, ll_f], axis=1)
    prior = np.concatenate([prior_c, prior_f], axis=1)
    logw = ll / model.temperature + prior + area
    w = np.exp(logw - np.max(logw, axis=1, keepdims=True))
    w /= np.sum(w, axis=1, keepdims=True)
    est = _local_mean(pts, best, ll / LOCAL_TEMPERATURE + prior + area)
    lat, lon = lat_lon(est)
    dist = np.arccos(np.clip(np.einsum("tpk,tk->tp", pts, est), -1, 1)) * EARTH_RADIUS_KM
    order = np.argsort(dist, axis=1)
    cum = np.cumsum(np.take_along_axis(w, order, axis=1), axis=1)
    pos = np.minimum(np.sum(cum < RADIUS_QUANTILE, axis=1), pts.shape[1] - 1)
    radius = np.take_along_axis(np.take_along_axis(dist, order, axis=1), pos[:, None], axis=1)[:, 0]
    radius = np.maximum(radius * model.radius_scale, fstep * EARTH_RADIUS_KM)
    radius = np.minimum(radius, _bound_reach(est, t))
    country, country_p = _country(np.concatenate([cells_c, cells_f], axis=1), w, countries)
    max_ll = np.maximum(np.max(ll_c, axis=1), np.max(ll_f, axis=1))
    nan = np.where(has, 0.0, np.nan)
    return EstimateBatch(
        lat + nan, lon + nan, radius + nan, np.where(has, country, -1), country_p + nan, max_ll + nan, t
    )


def _bound_reach(est: FloatArray, t: TargetTerms) -> FloatArray:
    """Per target, how far (km) from the estimate the physical bound lets the target be.

    Every place in landmark ``k``'s disk is within ``d(estimate, L_k) + R_k`` of the estimate;
    the smallest such reach bounds the radius, which otherwise, from the model alone, can
    exceed what the bound allows (hundreds of kilometres for a host 2 ms from a landmark).
    The estimate trusts every disk, as its likelihood does; only proofs allow a wrong one
    (the tolerance). ``inf`` without a measurement.
    """
    dots = np.einsum("tkc,tc->tk", t.vecs.astype(np.float64), np.asarray(est, dtype=np.float64))
    ang = np.arccos(np.clip(dots, -1.0, 1.0)) + t.bound_rad.astype(np.float64) * (1.0 + 1e-6)
    reach = np.where(t.valid, ang * EARTH_RADIUS_KM, np.inf)
    return np.asarray(np.min(reach, axis=1, initial=np.inf), dtype=np.float64)


def _local_mean(pts: FloatArray, best: FloatArray, logw: FloatArray) -> FloatArray:
    """Per target, the weighted mean direction (T, 3) of the points within ``LOCAL_KM`` of ``best``."""
    b = np.asarray(best, dtype=pts.dtype)
    inside = np.einsum("tpk,tk->tp", pts, b) >= np.cos(LOCAL_KM / EARTH_RADIUS_KM)
    lw = np.where(inside, logw, -np.inf)
    top = np.max(lw, axis=1, keepdims=True)
    w = np.exp(lw - np.where(np.isfinite(top), top, 0.0)).astype(pts.dtype)
    v = np.einsum("tp,tpk->tk", w, pts)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(np.where(norm > 1e-12, v / np.maximum(norm, 1e-12), b), dtype=pts.dtype)


def _cells(points: FloatArray, countries: CountryTable | None) -> IntArray:
    """Grid cell of each point (T, P), or zeros without a country table."""
    if countries is None:
        return np.zeros(points.shape[:2], dtype=np.int64)
    lat, lon = lat_lon(points)
    return countries.grid.cell_of(lat, lon)


def _log_prior(cells: IntArray, countries: CountryTable | None) -> FloatArray:
    """Log prior of each point: hosts sit on land (a sea cell weighs ``OCEAN_PRIOR``), near people."""
    if countries is None:
        return np.zeros(cells.shape)
    land = countries.cell_land_fraction[cells]
    prior = np.log(OCEAN_PRIOR + (1 - OCEAN_PRIOR) * land)
    if countries.people is not None:
        prior += population_prior(countries)[cells]
    return np.asarray(prior, dtype=np.float64)


def population_prior(countries: CountryTable) -> npt.NDArray[np.float32]:
    """Per grid cell: ``log(1 + P / POP_SCALE)``, P the population within about ``POP_SIGMA_KM``.

    Data centres are in or near cities, so among places that fit the RTTs about
    equally well the estimate prefers a populated one. The towns' populations
    (``countries.people``; :mod:`fleetproof.geodata` loads GeoNames towns of 15,000
    and more) are summed per cell and smoothed with a Gaussian of ``POP_SIGMA_KM``
    (in cells of latitude; longitude uses the same number of cells). Computed once
    per table and kept on it; all zeros without towns.
    """
    cached = countries.__dict__.get("_population_prior")
    if cached is not None:
        return np.asarray(cached)
    grid = countries.grid
    if countries.people is None:
        return np.zeros(grid.n_cells, dtype=np.float32)
    lat, lon, pop = countries.people
    counts = np.bincount(grid.cell_of(lat, lon), weights=pop, minlength=grid.n_cells)
    raw = counts.reshape(grid.n_rows, grid.n_cols)
    sigma = POP_SIGMA_KM / (grid.resolution_deg * 111.2)
    reach = max(1, int(np.ceil(2 * sigma)))
    smooth = np.zeros_like(raw)
    for dr in range(-reach, reach + 1):
        shifted = np.zeros_like(raw)
        lo, hi = max(dr, 0), raw.shape[0] + min(dr, 0)
        shifted[lo:hi] = raw[lo - dr : hi - dr]
        for dc in range(-reach, reach + 1):
            smooth += np.exp(-(dr * dr + dc * dc) / (2 * sigma * sigma)) * np.roll(shifted, dc, axis=1)
    out = np.log1p(smooth.ravel() / POP_SCALE).astype(np.float32)
    object.__setattr__(countries, "_population_prior", out)
    return out


def _country(cells: IntArray, w: FloatArray, countries: CountryTable | None) -> tuple[IntArray, FloatArray]:
    """Most probable country per target (posterior mass of points by their cell's main country).

    The probability is conditional on land: mass at sea is left out of the denominator.
    """
    n_t = cells.shape[0]
    if countries is None:
        return np.full(n_t, -1, dtype=np.int64), np.zeros(n_t)
    label = countries.cell_country[cells].astype(np.int64) + 1  # 0 = sea
    n_c = len(countries.codes) + 1
    key = (np.arange(n_t)[:, None] * n_c + label).ravel()
    mass = np.bincount(key, weights=w.ravel(), minlength=n_t * n_c).reshape(n_t, n_c)
    land = mass[:, 1:]
    best = np.argmax(land, axis=1)
    total_land = np.sum(land, axis=1)
    p = np.where(total_land > 0, land[np.arange(n_t), best] / np.maximum(total_land, 1e-300), 0.0)
    return np.where(total_land > 0, best, -1).astype(np.int64), p
