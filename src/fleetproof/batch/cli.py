"""``fleetproof verify``: batch location verification from CSV files.

Registered through :data:`fleetproof.cli.COMMAND_MODULES`; importing this module
is cheap (numpy and the engine load inside the handler).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from fleetproof.errors import ConfigError

__all__ = ["register"]

SAMPLE_FILES = {
    "landmarks": "landmarks.csv",
    "mesh": "mesh.csv",
    "rtts": "rtts.csv",
    "claims": "claims.csv",
    "regions": "regions.json",
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "verify",
        help="verify claimed locations from RTTs to landmarks (batch, CSV in, JSON lines out)",
        description=(
            "Vet the landmarks against their mesh, calibrate a delay model, then give every claim a verdict "
            "(violation / proven / consistent / unknown), a suspicious flag, an estimate and evidence."
        ),
    )
    src = p.add_argument_group("inputs")
    src.add_argument("--landmarks", type=Path, metavar="L.csv", help="id,lat,lon[,country]")
    src.add_argument("--rtts", type=Path, metavar="R.csv", help="target,landmark,rtt_ms (minimum RTT)")
    src.add_argument(
        "--mesh", type=Path, metavar="M.csv", help="a,b,rtt_ms between landmarks (vetting, calibration)"
    )
    src.add_argument("--claims", type=Path, metavar="C.csv", help="claim,target,lat,lon,country")
    src.add_argument(
        "--regions", type=Path, metavar="Z.geojson", help="named operator regions claims may use"
    )
    src.add_argument(
        "--sample",
        action="store_true",
        help="use the bundled WonderProxy sample (landmarks, mesh, RTTs, claims, regions)",
    )
    dst = p.add_argument_group("outputs")
    dst.add_argument(
        "--out", type=Path, required=True, metavar="results.jsonl", help="one JSON object per claim"
    )
    dst.add_argument(
        "--landmark-report", type=Path, metavar="LR.json", help="trusted and quarantined landmarks"
    )
    dst.add_argument("--map", type=Path, dest="map_dir", metavar="DIR", help="write SVG maps here")
    dst.add_argument("--map-limit", type=int, default=12, metavar="N", help="maps for at most N results (12)")
    mdl = p.add_argument_group("model")
    mdl.add_argument("--v-max-km-per-ms", type=float, help="one-way speed bound (default 2/3 c = 199.86)")
    mdl.add_argument("--allowance-ms", type=float, default=0.0, help="subtracted from every RTT first (0)")
    mdl.add_argument("--tolerance", type=int, default=1, help="landmark contradictions tolerated (1)")
    mdl.add_argument(
        "--refine-depth",
        type=int,
        default=3,
        metavar="N",
        help="levels of 4x4 sub-cells looked into where grid cells leave a verdict open (3; 0: grid only)",
    )
    mdl.add_argument(
        "--false-alarm-rate", type=float, default=0.01, help="suspicious rate on honest mesh (0.01)"
    )
    p.add_argument("--workers", type=int, metavar="N", help="processes for verification (default: CPU cores)")
    p.add_argument("--fail-on-violation", action="store_true", help="exit 1 when any claim is a violation")
    p.add_argument(
        "--progress", action="store_true", help="draw the progress bar even when not on a terminal"
    )
    p.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from fleetproof.batch.run import VerifyOptions, run_verify

    if args.tolerance < 0 or args.map_limit < 0 or (args.workers is not None and args.workers < 1):
        raise ConfigError("--tolerance and --map-limit must not be negative, --workers at least 1")
    if not 0 <= args.refine_depth <= 6:
        raise ConfigError("--refine-depth must be between 0 and 6")
    if args.allowance_ms < 0 or (args.v_max_km_per_ms is not None and not args.v_max_km_per_ms > 0):
        raise ConfigError("--allowance-ms must be ≥ 0 and --v-max-km-per-ms > 0")
    if not 0 < args.false_alarm_rate < 1:
        raise ConfigError("--false-alarm-rate must be between 0 and 1")
    with ExitStack() as stack:
        paths = {k: getattr(args, k) for k in SAMPLE_FILES}
        if args.sample:
            given = [f"--{k}" for k, v in paths.items() if v is not None]
            if given:
                raise ConfigError(f"--sample replaces {', '.join(given)}; give one or the other")
            from importlib import resources

            base = stack.enter_context(resources.as_file(resources.files("fleetproof.batch.data.sample")))
            paths = {k: base / name for k, name in SAMPLE_FILES.items()}
        elif paths["landmarks"] is None or paths["rtts"] is None:
            raise ConfigError("give --landmarks and --rtts (or --sample)")
        opts = VerifyOptions(
            landmarks=paths["landmarks"],
            rtts=paths["rtts"],
            mesh=paths["mesh"],
            claims=paths["claims"],
            out=args.out,
            landmark_report=args.landmark_report,
            map_dir=args.map_dir,
            regions=paths["regions"],
            map_limit=args.map_limit,
            tolerance=args.tolerance,
            refine_depth=args.refine_depth,
            v_max_km_per_ms=args.v_max_km_per_ms,
            allowance_ms=args.allowance_ms,
            false_alarm_rate=args.false_alarm_rate,
            fail_on_violation=args.fail_on_violation,
            workers=args.workers,
            force_progress=args.progress,
        )
        return run_verify(opts, sys.stdout, sys.stderr)
