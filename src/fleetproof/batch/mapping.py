"""Choose which results get a map and write them (plus a world overview) atomically."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fleetproof.batch.maps import overview_svg, result_svg
from fleetproof.batch.output import atomic_writer
from fleetproof.errors import ConfigError
from fleetproof.geo import Claim, Landmark, Result, Verifier, VettingReport

__all__ = ["write_maps"]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "x"


def _pick(results: Sequence[Result], limit: int) -> list[int]:
    """Violations first, then suspicious claims, then the rest, up to ``limit``."""
    rank = [0 if r.verdict == "violation" else 1 if r.suspicious else 2 for r in results]
    order = sorted(range(len(results)), key=lambda i: (rank[i], i))
    return order[: max(limit, 0)]


def write_maps(
    folder: Path,
    verifier: Verifier,
    landmarks: Sequence[Landmark],
    report: VettingReport,
    targets: Sequence[str],
    rtt: np.ndarray,
    claims: Sequence[Claim],
    results: Sequence[Result],
    limit: int,
) -> int:
    """Write ``overview.svg`` and one map per chosen result; returns how many files were written."""
    from fleetproof.geodata import load_country_shapes

    shapes = load_country_shapes()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot make the map folder {folder}: {exc.strerror or exc}") from None
    quarantined = {q.id: q.reason for q in report.quarantined}
    with atomic_writer(folder / "overview.svg") as fh:
        fh.write(overview_svg(landmarks, quarantined, results, shapes))
    row_of = {t: i for i, t in enumerate(targets)}
    claim_of = {c.id: c for c in claims}
    lms = verifier.landmarks
    n = 1
    for k, i in enumerate(_pick(results, limit)):
        res = results[i]
        row = rtt[row_of[res.target]]
        region = verifier.region_of_row(row)
        ok = np.flatnonzero(np.isfinite(row))
        tight = ok[np.argsort(row[ok], kind="stable")[:3]]
        bounds = verifier.speed.max_distance_km(row[tight])
        disks = [(lms.landmarks[j], float(row[j]), float(b)) for j, b in zip(tight, bounds, strict=True)]
        claim = claim_of.get(res.claim) if res.claim is not None else None
        name = f"{k + 1:03d}-{_safe(res.target)}" + (f"-{_safe(res.claim)}" if res.claim else "") + ".svg"
        with atomic_writer(folder / name) as fh:
            fh.write(result_svg(res, claim, region, disks, shapes))
        n += 1
    return n
