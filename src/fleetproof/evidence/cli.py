"""``fleetproof evidence verify FILE``: check an evidence bundle offline and say what it proves.

Exit status: 0 when every signature holds and every verdict is reproduced; 1 when
something failed (each failure is named); 2 when the file is not a readable bundle.
Cheap to import: the engine is loaded inside the handler.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["format_report", "register"]

_LABELS = {
    "checked": "checked",
    "recomputed": "recomputed",
    "operator": "operator's word",
    "attestor": "attestor's word",
    "assumed": "assumed",
}


def register(subparsers: Any) -> None:
    ev = subparsers.add_parser(
        "evidence",
        help="check an evidence bundle offline (no server needed)",
        description="Check an evidence bundle offline: every signature, every binding, and each verdict\n"
        "recomputed with the engine. Exit status: 0 when every signature holds and every verdict is\n"
        "reproduced; 1 when something failed (each failure is named); 2 when the file is not a\n"
        "readable bundle.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = ev.add_subparsers(dest="evidence_action", metavar="ACTION", required=True)
    verify = actions.add_parser("verify", help="check every signature and recompute every verdict")
    verify.add_argument("file", help="the bundle (from `fleetproof server evidence export`)")
    verify.add_argument(
        "--landmarks",
        help="DIR.csv with the landmark keys you trust; every landmark key in the bundle must match it",
    )
    verify.add_argument(
        "--allow-unsigned-positions",
        action="store_true",
        help="accept landmarks registered without a signed position statement (their position is then "
        "the operator's word)",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=_verify)


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def format_report(report: Any, path: str) -> str:
    """The plain-text report: verdicts first, then what each part rests on, then failures."""
    lines = [f"evidence bundle {path} for device {report.device_id}"]
    reproduced = sum(v.reproduced for v in report.verdicts)
    lines.append(f"verdicts: {reproduced} of {len(report.verdicts)} reproduced")
    for v in report.verdicts:
        state = "reproduced" if v.reproduced else "NOT reproduced"
        lines.append(f"  #{v.index:<4} {_when(v.time)}  {v.verdict:<11} {state}")
        lines.extend(f"        - {p}" for p in v.problems[:10])
        if len(v.problems) > 10:
            lines.append(f"        - … and {len(v.problems) - 10} more")
    lines.append("what the verdicts rest on:")
    lines.extend(f"  {_LABELS[p.how]:<15}  {p.what}" for p in report.parts)
    if report.failures:
        lines.append(f"FAILED ({len(report.failures)}):")
        lines.extend(f"  - {f}" for f in report.failures[:50])
        if len(report.failures) > 50:
            lines.append(f"  - … and {len(report.failures) - 50} more")
    lines.append("result: OK" if report.ok else "result: FAILED")
    return "\n".join(lines) + "\n"


def _report_json(report: Any) -> str:
    return json.dumps(
        {
            "device_id": report.device_id,
            "ok": report.ok,
            "verdicts": [
                {
                    "index": v.index,
                    "time": v.time,
                    "verdict": v.verdict,
                    "reproduced": v.reproduced,
                    "problems": v.problems,
                }
                for v in report.verdicts
            ],
            "parts": [{"how": p.how, "what": p.what} for p in report.parts],
            "failures": report.failures,
        },
        indent=1,
    )


def _verify(args: argparse.Namespace) -> int:
    from fleetproof.evidence.bundle import read_bundle
    from fleetproof.evidence.verify import verify_bundle
    from fleetproof.geodata import load_countries

    bundle = read_bundle(args.file)
    pinned = None
    if args.landmarks:
        from fleetproof.probe.records import load_landmark_directory

        pinned = {i: e.public_key_b64 for i, e in load_landmark_directory(args.landmarks).items()}
    report = verify_bundle(
        bundle, load_countries(), pinned_keys=pinned, allow_unsigned_positions=args.allow_unsigned_positions
    )
    sys.stdout.write(_report_json(report) + "\n" if args.json else format_report(report, args.file))
    return 0 if report.ok else 1
