"""The ``verify`` pipeline: read and validate everything, vet, calibrate, verify, then write.

All inputs are read and checked before anything is written, and every output
is written atomically, so a bad input never leaves a partial result behind.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from fleetproof.batch.csvio import not_utf8, read_claims, read_landmarks, read_mesh, read_rtts
from fleetproof.batch.output import Progress, write_json, write_jsonl, write_text
from fleetproof.errors import ConfigError, InputError, VerificationFailed

__all__ = ["VerifyOptions", "run_verify"]


@dataclass
class VerifyOptions:
    landmarks: Path
    rtts: Path
    out: Path
    mesh: Path | None = None
    claims: Path | None = None
    landmark_report: Path | None = None
    map_dir: Path | None = None
    regions: Path | None = None
    map_limit: int = 12
    tolerance: int = 1
    refine_depth: int = 3
    v_max_km_per_ms: float | None = None
    allowance_ms: float = 0.0
    false_alarm_rate: float = 0.01
    fail_on_violation: bool = False
    workers: int | None = None
    force_progress: bool = False


def _regions(path: Path | None) -> dict[str, dict[str, Any]]:
    """Named operator regions from a GeoJSON FeatureCollection (``properties.name``).

    Every ring is checked here, once, so that a bad coordinate is reported against the
    file instead of failing deep inside verification or map drawing.
    """
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InputError(str(path), None, "not valid JSON: nested too deeply") from None
    from fleetproof.geo.claims import check_polygons, geojson_polygons

    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list):
        raise InputError(str(path), None, "expected a GeoJSON FeatureCollection")
    out: dict[str, dict[str, Any]] = {}
    for k, f in enumerate(feats):
        props = f.get("properties") if isinstance(f, dict) else None
        name = props.get("name") if isinstance(props, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise InputError(str(path), None, f"feature {k} has no properties.name (a non-empty string)")
        if name in out:
            raise InputError(str(path), None, f"feature {k}: region name {name!r} is used twice")
        try:
            polygons = geojson_polygons(f)
            if not polygons:
                raise ValueError("no polygons")
            check_polygons(polygons)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise InputError(str(path), None, f"feature {name!r}: {exc}") from None
        out[name] = f
    return out


def _check_outputs(opts: VerifyOptions) -> None:
    """Refuse output paths that cannot be written before any work is done."""
    for path in (opts.out, opts.landmark_report):
        if path is not None and path.is_dir():
            raise ConfigError(f"cannot write {path}: it is a folder")
    for flag, other in (("--landmark-report", opts.landmark_report), ("--map", opts.map_dir)):
        # One would overwrite the other, or the maps' folder stand where the results go.
        if other is not None and os.path.realpath(other) == os.path.realpath(opts.out):
            raise ConfigError(f"cannot write {opts.out}: {flag} names the same path")
    if opts.map_dir is not None and opts.map_dir.exists() and not opts.map_dir.is_dir():
        raise ConfigError(f"cannot make the map folder {opts.map_dir}: a file of that name is in the way")


def _new_paths(path: Path) -> list[Path]:
    """``path`` and those of its folders that do not exist yet, deepest first."""
    out = []
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            break
        out.append(p)
    return out


@contextmanager
def _all_or_nothing(opts: VerifyOptions) -> Iterator[None]:
    """Remove what this run created if writing any output fails, so no partial set of outputs is left.

    Each file is written atomically, but the outputs are several files: without this a
    failure on the last one (a folder that cannot be made) left the first ones behind.
    Files that existed before are not restored; they were replaced whole or not at all.
    In a map folder that existed before, the maps this run added are removed.
    """
    outputs = [p for p in (opts.out, opts.landmark_report, opts.map_dir) if p is not None]
    created = [p for path in outputs for p in _new_paths(path)]
    maps_before = set(opts.map_dir.iterdir()) if opts.map_dir is not None and opts.map_dir.is_dir() else None
    try:
        yield
    except BaseException:
        if opts.map_dir is not None and opts.map_dir in created:
            shutil.rmtree(opts.map_dir, ignore_errors=True)
        elif opts.map_dir is not None and maps_before is not None:
            with suppress(OSError):
                for p in set(opts.map_dir.iterdir()) - maps_before:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        for p in created:  # deepest first within each output: files, then the folders made for them
            with suppress(OSError):  # a folder that still holds something stays
                p.rmdir() if p.is_dir() else p.unlink(missing_ok=True)
        raise


def _build(
    opts: VerifyOptions, landmarks: list[Any], mesh: list[Any], countries: Any, speed: Any
) -> tuple[Any, Any, bool]:
    """Vet the landmarks, calibrate on the trusted mesh; returns (report, verifier, calibrated)."""
    from fleetproof.geo import Verifier, calibrate, vet_landmarks

    report = vet_landmarks(landmarks, mesh, speed)
    trusted_ids = set(report.trusted)
    trusted = [lm for lm in landmarks if lm.id in trusted_ids]
    if len(trusted) < 3:
        raise InputError(
            str(opts.landmarks), None, f"only {len(trusted)} trusted landmark(s); at least 3 needed"
        )
    model = None
    if mesh:
        inner = [m for m in mesh if m.a in trusted_ids and m.b in trusted_ids]
        try:
            model = calibrate(trusted, inner, speed, countries, opts.false_alarm_rate)
        except ValueError:  # too few usable pairs: the built-in model is used
            model = None
    verifier = Verifier(
        trusted, countries, speed, model, tolerance=opts.tolerance, refine_depth=opts.refine_depth
    )
    return report, verifier, model is not None


def run_verify(
    opts: VerifyOptions, stdout: TextIO, stderr: TextIO, clock: Callable[[], float] = time.perf_counter
) -> int:
    from fleetproof.batch.parallel import (
        Brief,
        default_workers,
        release_free_memory,
        tune_allocator,
        verify_encoded,
        verify_parallel,
    )
    from fleetproof.geo import SpeedModel
    from fleetproof.geodata import load_countries, load_country_edges

    t0 = clock()
    _check_outputs(opts)
    tune_allocator()
    speed = SpeedModel(allowance_ms=opts.allowance_ms)
    if opts.v_max_km_per_ms is not None:
        speed = SpeedModel(opts.v_max_km_per_ms, opts.allowance_ms)
    countries = load_countries()
    landmarks = read_landmarks(opts.landmarks)
    ids = {lm.id: i for i, lm in enumerate(landmarks)}
    mesh = read_mesh(opts.mesh, ids) if opts.mesh is not None else []
    table = read_rtts(opts.rtts, [lm.id for lm in landmarks])
    regions = _regions(opts.regions)  # checked even when no claim uses it: a bad file is an error
    claims = read_claims(opts.claims, countries.codes, regions) if opts.claims else []
    t_read = clock()

    report, verifier, calibrated = _build(opts, landmarks, mesh, countries, speed)
    cols = np.array([ids[i] for i in verifier.landmarks.ids], dtype=np.int64)
    targets = list(table.targets)
    index = {t: i for i, t in enumerate(targets)}
    for c in claims:  # claims about targets without RTTs get rows of their own (verdict: unknown)
        if c.target not in index:
            index[c.target] = len(targets)
            targets.append(c.target)
    rtt = np.full((len(targets), cols.size), np.nan)
    rtt[: len(table.targets)] = table.rtt[:, cols]
    n_rows = table.rows
    del table
    release_free_memory()  # parsing left freed heap behind; the workers would each count it
    pairs = [(index[c.target], c) for c in claims]
    progress = Progress(len(targets), stderr, force=opts.force_progress)
    workers = opts.workers if opts.workers is not None else default_workers()
    if workers > 1 and countries.edges is not None and any(c.kind == "countries" for c in claims):
        load_country_edges()  # borders for refined verdicts: read once here, not in every worker
        countries.coasts()  # and the coast index of territorial waters, shared copy-on-write
    if opts.map_dir is None:
        texts, briefs = verify_encoded(verifier, targets, rtt, pairs, workers, progress.advance)
        results: list[Any] = []
    else:
        results = verify_parallel(verifier, targets, rtt, pairs, workers, progress.advance)
        briefs = [Brief.of(r) for r in results]
    progress.close()
    t_verify = clock()

    n_maps = 0
    with _all_or_nothing(opts):
        if opts.landmark_report is not None:
            write_json(opts.landmark_report, report.to_json())
        if opts.map_dir is not None:
            from fleetproof.batch.mapping import write_maps

            n_maps = write_maps(
                opts.map_dir, verifier, landmarks, report, targets, rtt, claims, results, opts.map_limit
            )
            write_jsonl(opts.out, (r.to_json() for r in results))
        else:
            write_text(opts.out, texts)
    t_end = clock()
    times = (t_read - t0, t_verify - t_read, t_end - t_verify, t_end - t0)
    _summary(stdout, opts, briefs, report, len(targets), len(landmarks), n_maps, times, n_rows, calibrated)
    if opts.fail_on_violation and any(r.verdict == "violation" for r in briefs):
        raise VerificationFailed("at least one claim is a violation (see the results)")
    return 0


def _summary(
    out: TextIO,
    opts: VerifyOptions,
    results: list[Any],
    report: Any,
    n_targets: int,
    n_landmarks: int,
    n_maps: int,
    times: tuple[float, float, float, float],
    n_rows: int,
    calibrated: bool,
) -> None:
    read_s, verify_s, write_s, total_s = times
    verdicts = Counter(r.verdict for r in results if r.verdict is not None)
    suspicious = sum(1 for r in results if r.suspicious)
    p = print
    p(
        f"fleetproof verify: {n_targets:,} targets, {n_rows:,} RTTs, {n_landmarks} landmarks "
        f"({len(report.trusted)} trusted, {len(report.quarantined)} quarantined)",
        file=out,
    )
    p(
        f"  delay model: {'calibrated on the landmark mesh' if calibrated else 'built-in default (no mesh)'}",
        file=out,
    )
    if verdicts:
        order = ["violation", "proven", "consistent", "unknown"]
        p(
            "  verdicts: "
            + ", ".join(f"{verdicts[v]:,} {v}" for v in order if verdicts[v])
            + f"; {suspicious:,} suspicious",
            file=out,
        )
    for q in report.quarantined:
        p(f"  quarantined landmark {q.id}: {q.reason}", file=out)
    shown = [r for r in results if r.verdict == "violation"][:5] + [
        r for r in results if r.suspicious and r.verdict != "violation"
    ][:5]
    for r in shown:
        where = (
            f"estimated at {r.lat:.2f}, {r.lon:.2f} ±{r.radius_km:.0f} km ({r.country or 'sea'})"
            if (r.lat is not None and r.lon is not None and r.radius_km is not None)
            else "no estimate"
        )
        flag = r.verdict if r.verdict == "violation" else f"{r.verdict}, suspicious"
        p(f"  {flag}: claim {r.claim} for {r.target}; {where}", file=out)
    rate = n_targets / max(total_s, 1e-9)
    p(
        f"  time: {total_s:.2f} s ({rate:,.0f} targets/s; read {read_s:.2f} s, verify {verify_s:.2f} s, "
        f"write {write_s:.2f} s)",
        file=out,
    )
    wrote = [str(opts.out)]
    if opts.landmark_report is not None:
        wrote.append(str(opts.landmark_report))
    if opts.map_dir is not None:
        wrote.append(f"{opts.map_dir} ({n_maps} maps)")
    p("  wrote " + ", ".join(wrote), file=out)
