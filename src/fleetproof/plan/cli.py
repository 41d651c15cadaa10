"""``fleetproof plan``: what it takes for the engine to prove where each site is.

Registered through :data:`fleetproof.cli.COMMAND_MODULES`; importing this module is
cheap (numpy, the engine and the geography load inside the handler). Every input is
read and checked before anything is computed, and nothing is written until the plan
is complete; each file is written atomically.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from fleetproof.errors import ConfigError

__all__ = ["register", "run_plan"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plan",
        help="plan landmarks: which sites the engine can prove, their proof budgets, and what to add",
        description=(
            "Model the best RTTs an honest host at each site would measure, run them through the engine with "
            "the server's settings, and report which sites are provable now, how much delay each proof can "
            "take, and which candidate landmarks, chosen greedily, would prove the rest."
        ),
    )
    src = p.add_argument_group("inputs")
    src.add_argument("--sites", type=Path, required=True, metavar="S.csv", help="id,lat,lon,zone")
    src.add_argument("--landmarks", type=Path, required=True, metavar="L.csv", help="id,lat,lon (existing)")
    src.add_argument(
        "--zones", type=Path, required=True, metavar="Z.json", help="zones as the server keeps them"
    )
    src.add_argument(
        "--candidates",
        type=Path,
        metavar="C.csv",
        help="id,lat,lon of places a landmark could be added (default: bundled metros ≥ 500,000 inhabitants)",
    )
    mdl = p.add_argument_group("model")
    mdl.add_argument("--access-ms", type=float, metavar="MS", help="access delay per end, one-way, ms (0.1)")
    mdl.add_argument(
        "--inflation", type=float, metavar="F", help="route inflation over the great circle (1.4, measured)"
    )
    mdl.add_argument(
        "--tolerance", type=int, metavar="T", help="landmark contradictions tolerated (the server's: 1)"
    )
    mdl.add_argument(
        "--budget-step-ms", type=float, metavar="MS", help="resolution of proof budgets, ms (0.05)"
    )
    mdl.add_argument(
        "--min-headroom-ms",
        type=float,
        metavar="MS",
        help="least extra delay all proving landmarks must be able to show at once for a site to count as "
        "provable (0.1: the quietest same-metro jitter on the WonderProxy mesh)",
    )
    p.add_argument("--workers", type=int, metavar="N", help="processes for the engine (default: CPU cores)")
    dst = p.add_argument_group("outputs")
    dst.add_argument("--out", type=Path, required=True, metavar="plan.json", help="the plan, per site")
    dst.add_argument("--map", type=Path, dest="map_dir", metavar="DIR", help="write plan.svg here")
    p.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    return run_plan(args, sys.stdout)


def _positive(name: str, value: float | None, low: float, strict: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise ConfigError(f"{name} must be a number {'>' if strict else '≥'} {low:g}, got {value!r}")


def run_plan(args: argparse.Namespace, out: TextIO) -> int:
    """Read, plan, write; the handler behind ``fleetproof plan``."""
    from fleetproof.batch.csvio import read_landmarks
    from fleetproof.batch.output import write_json, write_text
    from fleetproof.batch.parallel import default_workers
    from fleetproof.geodata import load_countries, load_country_edges, load_country_shapes
    from fleetproof.plan.core import make_plan
    from fleetproof.plan.inputs import read_candidates, read_sites, read_zones
    from fleetproof.plan.model import (
        DEFAULT_BUDGET_STEP_MS,
        DEFAULT_MIN_HEADROOM_MS,
        DelayPlan,
        EngineSettings,
    )
    from fleetproof.plan.parallel import fork_runner
    from fleetproof.plan.report import plan_json, plan_svg, summary

    _positive("--access-ms", args.access_ms, 0.0)
    _positive("--inflation", args.inflation, 1.0)
    _positive("--budget-step-ms", args.budget_step_ms, 0.0, strict=True)
    _positive("--min-headroom-ms", args.min_headroom_ms, 0.0)
    if args.tolerance is not None and not 0 <= args.tolerance <= 10:
        raise ConfigError(f"--tolerance must be between 0 and 10, got {args.tolerance}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.map_dir is not None and args.map_dir.exists() and not args.map_dir.is_dir():
        raise ConfigError(f"--map {args.map_dir} exists and is not a folder")
    sites = read_sites(args.sites)
    landmarks = read_landmarks(args.landmarks)
    zones = read_zones(args.zones)
    candidates, source = read_candidates(args.candidates)
    engine = EngineSettings() if args.tolerance is None else EngineSettings(tolerance=args.tolerance)
    delay = DelayPlan(speed=engine.speed)
    if args.access_ms is not None or args.inflation is not None:
        delay = DelayPlan(
            inflation=delay.inflation if args.inflation is None else args.inflation,
            access_ms=delay.access_ms if args.access_ms is None else args.access_ms,
            speed=engine.speed,
        )
    plan = make_plan(
        sites,
        zones,
        landmarks,
        candidates,
        load_countries(),
        load_country_edges(),
        delay,
        engine,
        budget_step_ms=args.budget_step_ms or DEFAULT_BUDGET_STEP_MS,
        runner=fork_runner(args.workers or default_workers()),
        min_headroom_ms=DEFAULT_MIN_HEADROOM_MS if args.min_headroom_ms is None else args.min_headroom_ms,
    )
    doc = plan_json(plan, source)
    if args.map_dir is not None:
        zone_countries = sorted({c for z in zones.values() for c in z.countries})
        write_text(args.map_dir / "plan.svg", [plan_svg(plan, load_country_shapes(), zone_countries)])
    write_json(args.out, doc)
    out.write(summary(plan))
    out.write(
        f"plan written to {args.out}"
        + (f", map to {args.map_dir / 'plan.svg'}" if args.map_dir else "")
        + "\n"
    )
    return 0
