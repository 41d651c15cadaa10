"""RTT fingerprints: a host's minimum RTT per landmark, compared with itself and with its peers.

A host that is moved keeps answering, but its RTTs to the landmarks change. Two
comparisons catch that without the engine: against the host's own *baseline*
(relocation over time) and against the per-landmark median of the other hosts of
its zone (peer inconsistency, for a host that was somewhere else from the start).
A landmark counts as *changed* when its RTT differs by more than ``max(abs_ms,
rel × reference)``; a fingerprint differs when at least ``min_common`` landmarks
are shared and at least half of them changed, so one congested path is not enough.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Comparison", "compare", "peer_median", "update_baseline"]

Fingerprint = Mapping[str, float]


@dataclass(frozen=True)
class Comparison:
    differs: bool
    common: int
    changed: list[str]
    median_delta_ms: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "differs": self.differs,
            "common_landmarks": self.common,
            "changed_landmarks": self.changed,
            "median_delta_ms": self.median_delta_ms,
        }


def compare(
    current: Fingerprint,
    reference: Fingerprint,
    *,
    abs_ms: float = 5.0,
    rel: float = 0.3,
    min_common: int = 3,
) -> Comparison:
    common = sorted(set(current) & set(reference))
    if not common:
        return Comparison(False, 0, [], None)
    deltas = {lm: current[lm] - reference[lm] for lm in common}
    changed = [lm for lm in common if abs(deltas[lm]) > max(abs_ms, rel * reference[lm])]
    differs = len(common) >= min_common and 2 * len(changed) >= len(common)
    return Comparison(differs, len(common), changed, round(statistics.median(deltas.values()), 3))


def update_baseline(
    baseline: Fingerprint | None, current: Fingerprint, *, alpha: float = 0.2
) -> dict[str, float]:
    """Blend a consistent round into the baseline (new landmarks join as they are)."""
    if not baseline:
        return dict(current)
    out = dict(baseline)
    for lm, rtt in current.items():
        out[lm] = rtt if lm not in out else round((1 - alpha) * out[lm] + alpha * rtt, 4)
    return out


def peer_median(peers: Iterable[Fingerprint], *, min_peers: int = 3) -> dict[str, float]:
    """Per-landmark median RTT over peers, for landmarks that at least ``min_peers`` peers measured."""
    values: dict[str, list[float]] = {}
    for fp in peers:
        for lm, rtt in fp.items():
            values.setdefault(lm, []).append(rtt)
    return {lm: statistics.median(v) for lm, v in values.items() if len(v) >= min_peers}
