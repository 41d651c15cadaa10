"""A plan as a person reads it: ``plan.json``, a short summary and a map.

The map is drawn with the batch CLI's SVG code (:mod:`fleetproof.batch.maps`): the
zones' countries, the existing landmarks, the landmarks the plan adds, and every
site coloured by what the plan found for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from fleetproof.batch.maps import Shapes, _Canvas, _countries, _disk, _view
from fleetproof.plan.core import Plan, SitePlan

__all__ = ["SITE_COLOURS", "plan_json", "plan_svg", "summary"]

SITE_COLOURS = {"now": "#2e7d32", "added": "#1565c0", "never": "#c62828"}
FORMAT_VERSION = 1


def _status(p: SitePlan) -> str:
    return "now" if p.provable_now else "added" if p.provable_with_added else "never"


def _site_json(p: SitePlan) -> dict[str, Any]:
    out: dict[str, Any] = {
        "site": p.site.id,
        "lat": p.site.lat,
        "lon": p.site.lon,
        "zone": p.site.zone,
        "zone_kind": p.zone_kind,
        "border_km": p.border_km,
        "verdict_now": p.verdict_now,
        "provable": p.provable_now,
        "provable_with_added": p.provable_with_added,
        "landmarks": [
            {
                "landmark": lm.landmark,
                "distance_km": lm.distance_km,
                "modelled_rtt_ms": lm.modelled_rtt_ms,
                "budget_rtt_ms": lm.budget_rtt_ms,
                "not_proven_at_ms": lm.not_proven_at_ms,
                "headroom_ms": lm.headroom_ms,
            }
            for lm in p.proof
        ],
        "joint_budget_ms": p.joint_budget_ms,
        "joint_not_proven_ms": p.joint_not_proven_ms,
        "measure": list(p.measure),
    }
    if not p.provable_now:
        out["verdict_with_added"] = p.verdict_with_added
        out["added"] = list(p.added)
        out["why_not"] = p.why_not
    return out


def plan_json(plan: Plan, candidates_source: str) -> dict[str, Any]:
    """The whole plan as one JSON document (see docs/planning.md for every field)."""
    places = Counter(a.candidate for a in plan.added)
    return {
        "format": FORMAT_VERSION,
        "settings": {
            "delay_model": plan.delay.to_json(),
            "engine": plan.engine.to_json(),
            "budget_step_ms": plan.budget_step_ms,
            "budget_holds_fixed": "every other landmark at its modelled RTT",
            "joint_budget": "extra delay every proving landmark may show at once, the others as modelled",
            "min_headroom_ms": plan.min_headroom_ms,
            "candidates": candidates_source,
        },
        "summary": {
            "sites": len(plan.sites),
            "provable_now": plan.provable_now,
            "provable_with_added": plan.provable_with_added,
            "added_landmarks": len(plan.added),
            "added_places": len(places),
            "not_provable": len(plan.sites) - plan.provable_now - plan.provable_with_added,
            "engine_rows": plan.engine_rows,
        },
        "added_landmarks": [
            {"id": a.id, "candidate": a.candidate, "lat": a.lat, "lon": a.lon, "sites": a.sites}
            for a in plan.added
        ],
        "sites": [_site_json(p) for p in plan.sites],
    }


def _cause(p: SitePlan) -> str:
    """A short label for a reason, for the summary's tally."""
    text = p.why_not or ""
    for key, label in (
        ("not in the zones file", "unknown zone"),
        ("country table", "unknown country"),
        ("no outline", "unknown country outline"),
        ("never a point", "point zone"),
        ("no area to prove", "zone without area"),
        ("outside its zone", "outside its zone"),
        ("smallest disk", "too near the border"),
        ("no headroom", "no headroom"),
        ("engine's margin", "engine margin"),
        ("near enough", "no candidate near enough"),
        ("no candidate place", "no candidate in the zone"),
    ):
        if key in text:
            return label
    return "other"


def summary(plan: Plan) -> str:
    """A few lines for stdout: how many sites are provable now, with how many more landmarks."""
    n, x, y = len(plan.sites), plan.provable_now, plan.provable_with_added
    places = len({a.candidate for a in plan.added})
    lines = [
        f"{x} of {n} sites provable now, {y} more with {len(plan.added)} added landmarks "
        f"(at {places} candidate places)"
    ]
    causes = Counter(_cause(p) for p in plan.sites if not p.provable_now and not p.provable_with_added)
    if causes:
        lines.append(
            f"{sum(causes.values())} not provable: "
            + ", ".join(f"{k} {v}" for k, v in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])))
        )
    provable = [p for p in plan.sites if p.provable_now or p.provable_with_added]
    budgets = sorted(lm.headroom_ms for p in provable for lm in p.proof if lm.headroom_ms is not None)
    if budgets:
        lines.append(
            f"proof budgets: a proving landmark may show {budgets[len(budgets) // 2]:.2f} ms more than "
            f"modelled (median), {budgets[0]:.2f} ms at the tightest"
        )
    joint = sorted(p.joint_budget_ms for p in provable if p.joint_budget_ms is not None)
    if joint:
        lines.append(
            f"joint budgets: all proving landmarks of a site may show {joint[len(joint) // 2]:.2f} ms more "
            f"at once (median), {joint[0]:.2f} ms at the tightest "
            f"(minimum headroom {plan.min_headroom_ms:g} ms)"
        )
    if provable:
        sizes = sorted(len(p.measure) for p in provable)
        lines.append(
            f"each host must measure the landmarks its site's `measure` list names in plan.json "
            f"({sizes[len(sizes) // 2]} at the median, {sizes[-1]} at most)"
        )
    return "\n".join(lines) + "\n"


def plan_svg(plan: Plan, shapes: Shapes, highlight: Sequence[str]) -> str:
    """One map of all sites, the landmarks and the added ones, cropped to the sites."""
    known = [p for p in plan.sites if p.zone_kind != "unknown"] or plan.sites  # a typo'd zone is no place
    pts = [(p.site.lat, p.site.lon) for p in known] or [(-60.0, -180.0), (85.0, 180.0)]
    c = _Canvas(*_view(pts, min_span=4.0))
    _countries(c, shapes, highlight)
    floor = plan.delay.floor_km()
    for lm in plan.existing:
        c.dot(lm.lat, lm.lon, 3, 'fill="#263238"', f"landmark {lm.id}")
    for p in plan.sites:
        status = _status(p)
        title = f"{p.site.id} ({p.site.zone}): " + (
            "provable now"
            if status == "now"
            else "provable with " + ", ".join(p.added)
            if status == "added"
            else p.why_not or "not provable"
        )
        c.dot(p.site.lat, p.site.lon, 2.5, f'fill="{SITE_COLOURS[status]}" fill-opacity="0.8"', title)
    for a in plan.added:  # on top: where to put hardware is what the map is for
        c.path([_disk(a.lat, a.lon, floor)], 'fill="none" stroke="#6a1b9a" stroke-dasharray="3 2"')
        c.dot(
            a.lat,
            a.lon,
            4.5,
            'fill="none" stroke="#6a1b9a" stroke-width="2"',
            f"add {a.id} ({a.sites} sites)",
        )
    c.text(10, 22, summary(plan).splitlines()[0], 'font-size="16" font-weight="bold"')
    c.text(10, 42, "sites: green provable now · blue with the added landmarks · red not provable")
    c.text(10, 60, "black: landmarks · purple rings: landmarks to add (dashed: the smallest disk one gives)")
    return c.svg()
