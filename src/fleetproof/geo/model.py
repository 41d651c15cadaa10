"""The empirical delay–distance model: what a round-trip time usually means for distance.

The speed bound says where a target *cannot* be; this model says where it
*probably* is. It is fitted on the landmark mesh (landmarks of known position
measuring each other). For each pair, the *ratio* ``ρ = distance / bound(rtt)``
lies in [0, 1] for honest pairs; the model keeps, per RTT bin, a smoothed
density of ρ. The likelihood of a landmark–target distance ``d`` given RTT
``r`` is then ``density(ρ = d / bound(r)) / bound(r)``: non-parametric like
Spotter's (Laki et al., 2011) distance distributions, but without forcing a
Gaussian, so a badly routed short path (a long RTT over a short distance)
stays plausible.

Each bin's density is a kernel estimate over *all* pairs, weighted by how close
their RTT is to the bin's (a Gaussian in log RTT of width ``RTT_BANDWIDTH``),
with a Gaussian kernel of width ``RATIO_BANDWIDTH`` in ρ. A mesh has only a
hundred or so pairs per bin; pooling neighbouring RTTs gives densities that
change smoothly with the RTT instead of following each bin's sampling noise.

Where the mesh has few pairs, the model must not pretend to know. Every bin's
density is mixed with the flat one (no ratio preferred) in proportion to how many
pairs it rests on (``PRIOR_PAIRS`` pseudo-pairs of the flat density), and RTTs
shorter than most of the mesh's get bins of their own, ``SHORT_STEP`` apart, down to
``SHORT_RTT_MS``. Below a few milliseconds fixed delays (the hosts' network stacks,
switching, serialisation: tenths of a millisecond each) are a large part of an RTT,
so the distance says little about where inside the bound a target is; a mesh of
distant landmarks has no such pairs, and extending its shortest bin down to them
(ratios around 0.5) made a host next to a landmark (RTT 0.5 ms, 5 km away, ratio 0.1)
look far less likely where it is than 25 km away, and ``suspicious``. With few or no
short pairs, the short bins are nearly flat: a landmark's disk still bounds the
target, and the likelihood stops ranking places inside it.

The model never supports ``violation`` or ``proven``; it drives estimates,
country probabilities and the ``suspicious`` flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DelayModel"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RATIO_BINS = 30
#: Ratios are modelled on [0, RATIO_MAX]: past 1 when a landmark's access delay was overestimated.
RATIO_MAX = 1.5
#: Share of every density spread uniformly over [0, 1], so no ratio is impossible under the model.
FLOOR = 0.03
MIN_BIN_PAIRS = 40
MAX_RTT_BINS = 24
#: Kernel widths of the fit: in natural-log RTT (0.3 ≈ ±35 %) and in ratio.
RTT_BANDWIDTH = 0.3
RATIO_BANDWIDTH = 0.05
#: Pseudo-pairs of the flat density mixed into each bin's: a bin few pairs support stays nearly flat.
PRIOR_PAIRS = 5.0
#: Bins for RTTs below the mesh's shortest quantile bin are this factor apart (two RTT kernel widths) ...
SHORT_STEP = float(np.exp(2 * RTT_BANDWIDTH))
#: ... down to this RTT (ms).
SHORT_RTT_MS = 0.1
#: The default model (no mesh) is flat below the first and half flat below the second of these RTTs (ms).
DEFAULT_SHORT_MS = (1.0, 2.0)


def _smooth(counts: FloatArray) -> FloatArray:
    padded = np.concatenate([counts[:1], counts, counts[-1:]])
    sm = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    dens = sm / max(float(sm.sum()), 1e-12) * RATIO_BINS / RATIO_MAX
    return np.asarray((1 - FLOOR) * dens + FLOOR / RATIO_MAX, dtype=np.float64)


@dataclass(frozen=True)
class DelayModel:
    """Per-RTT-bin densities of ``distance / bound``, plus the suspicion threshold.

    ``rtt_edges_ms`` are the inner bin edges (n − 1 of them for n bins);
    ``log_density`` is (n bins × ``RATIO_BINS`` ratio bins). ``lr_threshold`` is the
    likelihood-ratio statistic above which a claim is ``suspicious``;
    calibration sets it so that ``false_alarm_rate`` of honest mesh targets
    exceed it. ``k_nearest`` landmarks (smallest RTT) enter the likelihood.

    >>> m = DelayModel.default()
    >>> m.log_density.shape
    (3, 30)
    >>> DelayModel.from_json(m.to_json()) == m
    True
    """

    rtt_edges_ms: tuple[float, ...]
    log_density: FloatArray = field(compare=False)
    lr_threshold: float = 12.0
    false_alarm_rate: float = 0.01
    k_nearest: int = 16
    temperature: float = 1.0
    radius_scale: float = 1.0
    n_pairs: int = 0
    offsets_ms: Mapping[str, float] = field(default_factory=dict, compare=False)
    scales: Mapping[str, float] = field(default_factory=dict, compare=False)
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        dens = np.asarray(self.log_density, dtype=np.float64)
        if dens.ndim != 2 or dens.shape != (len(self.rtt_edges_ms) + 1, RATIO_BINS):
            raise ValueError("log_density must be (len(rtt_edges_ms) + 1, RATIO_BINS)")
        if any(b <= a for a, b in zip(self.rtt_edges_ms, self.rtt_edges_ms[1:], strict=False)):
            raise ValueError("rtt_edges_ms must increase")
        object.__setattr__(self, "log_density", dens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DelayModel):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((self.rtt_edges_ms, self.lr_threshold))

    @staticmethod
    def default() -> DelayModel:
        """A broad model for use without a mesh: ratios around 0.45, no ratio ruled out; flat for
        RTTs under 1 ms and half flat under 2 ms, where fixed delays swamp the distance."""
        rho = (np.arange(RATIO_BINS) + 0.5) / RATIO_BINS * RATIO_MAX
        shape = _smooth(rho**1.5 * np.clip(1 - rho, 0.0, 1.0) ** 1.8)
        flat = np.full(RATIO_BINS, 1.0 / RATIO_MAX)
        table = np.log(np.stack([flat, (flat + shape) / 2, shape]))
        return DelayModel(DEFAULT_SHORT_MS, table, meta={"source": "default"})

    @staticmethod
    def fit(rtt_ms: Sequence[float] | FloatArray, ratio: Sequence[float] | FloatArray) -> DelayModel:
        """Fit to pairs of (RTT less the landmark's access delay, distance / bound of that RTT).

        >>> rng = np.random.default_rng(1)
        >>> rtt = rng.uniform(1.0, 100.0, 400)
        >>> m = DelayModel.fit(rtt, rng.beta(4.0, 4.0, 400))  # ratios around 0.5
        >>> m.log_density.shape  # 10 quantile bins, and 6 for RTTs from 0.1 ms to the shortest
        (16, 30)
        >>> peak = (np.argmax(m.log_density, axis=1) + 0.5) * RATIO_MAX / RATIO_BINS
        >>> bool(np.all(np.abs(peak[m.rtt_bin(np.array([2.0, 20.0, 90.0]))] - 0.5) < 0.15))
        True
        >>> spread = np.ptp(m.log_density, axis=1)  # how strongly a bin prefers some ratios
        >>> bool(spread[m.rtt_bin(np.array([0.2]))[0]] < 0.5 < spread[m.rtt_bin(np.array([20.0]))[0]])
        True
        """
        rtt = np.asarray(rtt_ms, dtype=np.float64)
        rho = np.asarray(ratio, dtype=np.float64)
        ok = np.isfinite(rtt) & np.isfinite(rho) & (rtt > 0)
        rtt, rho = rtt[ok], np.clip(rho[ok], 0.0, RATIO_MAX)
        if rtt.size < 20:
            raise ValueError("need at least 20 landmark pairs to fit a delay model")
        n_bins = int(np.clip(rtt.size // MIN_BIN_PAIRS, 1, MAX_RTT_BINS))
        edges = np.unique(np.quantile(rtt, np.linspace(0, 1, n_bins + 1))[1:-1])
        which = np.searchsorted(edges, rtt, side="right")
        log_rtt = np.log(rtt)
        mid = [
            float(np.median(log_rtt[which == b])) if np.any(which == b) else float(np.median(log_rtt))
            for b in range(edges.size + 1)
        ]
        # Bins of their own for RTTs shorter than most of the mesh's (see the module docstring).
        step = float(np.log(SHORT_STEP))
        short = [mid[0] - step * k for k in range(1, 64) if mid[0] - step * k >= np.log(SHORT_RTT_MS)][::-1]
        centres_log = np.array(short + mid)
        short_edges = np.exp((centres_log[1 : len(short) + 1] + centres_log[: len(short)]) / 2)
        edges = np.concatenate([short_edges, edges])
        centres = (np.arange(RATIO_BINS) + 0.5) * (RATIO_MAX / RATIO_BINS)
        # Ratio kernel at every bin centre for every pair, reflected at 0 (ratios are never negative).
        kern = np.exp(-0.5 * ((centres[:, None] - rho[None, :]) / RATIO_BANDWIDTH) ** 2)
        kern += np.exp(-0.5 * ((centres[:, None] + rho[None, :]) / RATIO_BANDWIDTH) ** 2)
        kern /= kern.sum(axis=0, keepdims=True)  # each pair's kernel holds one pair's worth
        flat = np.full(RATIO_BINS, 1.0 / RATIO_MAX)
        table = np.zeros((edges.size + 1, RATIO_BINS))
        for b, centre in enumerate(centres_log.tolist()):
            weight = np.exp(-0.5 * ((log_rtt - centre) / RTT_BANDWIDTH) ** 2)
            dens = kern @ weight
            pairs = float(dens.sum())
            dens *= RATIO_BINS / RATIO_MAX / max(pairs, 1e-300)
            dens = (pairs * dens + PRIOR_PAIRS * flat) / (pairs + PRIOR_PAIRS)
            table[b] = np.log((1 - FLOOR) * dens + FLOOR / RATIO_MAX)
        return DelayModel(tuple(float(e) for e in edges), table, n_pairs=int(rtt.size))

    def offsets_for(self, ids: Sequence[str]) -> FloatArray:
        """Per-landmark access delay (ms) to subtract from its RTTs; 0 for landmarks not calibrated."""
        return np.array([float(self.offsets_ms.get(i, 0.0)) for i in ids], dtype=np.float64)

    def scales_for(self, ids: Sequence[str]) -> FloatArray:
        """Per-landmark distance scale (how far its RTTs reach compared with the typical landmark)."""
        return np.array([float(self.scales.get(i, 1.0)) for i in ids], dtype=np.float64)

    def with_landmarks(self, offsets_ms: Mapping[str, float], scales: Mapping[str, float]) -> DelayModel:
        """A copy with per-landmark access delays and distance scales."""
        doc = self.to_json()
        doc["offsets_ms"] = {k: round(float(v), 4) for k, v in offsets_ms.items()}
        doc["scales"] = {k: round(float(v), 4) for k, v in scales.items()}
        return DelayModel.from_json(doc)

    def flat_log_density(self) -> npt.NDArray[np.float32]:
        """``log_density`` flattened (float32) with one all-zero row appended for missing terms."""
        cached = self.__dict__.get("_flat")
        if cached is None:
            cached = np.concatenate([self.log_density.ravel(), np.zeros(RATIO_BINS)]).astype(np.float32)
            object.__setattr__(self, "_flat", cached)
        return np.asarray(cached)

    def rtt_bin(self, rtt_ms: FloatArray) -> IntArray:
        """Row of ``log_density`` for each RTT."""
        return np.searchsorted(np.asarray(self.rtt_edges_ms), rtt_ms, side="right").astype(np.int64)

    def log_pdf(self, rtt_bin: IntArray, distance_km: FloatArray, bound_km: FloatArray) -> FloatArray:
        """log p(distance | RTT) per km; ratios past ``RATIO_MAX`` get the last bin."""
        b = np.maximum(bound_km, 1.0)
        q = np.clip((distance_km / b / RATIO_MAX * RATIO_BINS).astype(np.int64), 0, RATIO_BINS - 1)
        return np.asarray(self.log_density[rtt_bin, q] - np.log(b), dtype=np.float64)

    def with_threshold(self, lr_threshold: float, false_alarm_rate: float) -> DelayModel:
        """A copy with a new suspicion threshold (the result of calibration)."""
        doc = self.to_json()
        doc.update(lr_threshold=float(lr_threshold), false_alarm_rate=float(false_alarm_rate))
        return DelayModel.from_json(doc)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 2,
            "rtt_edges_ms": list(self.rtt_edges_ms),
            "log_density": np.round(self.log_density, 6).tolist(),
            "lr_threshold": self.lr_threshold,
            "false_alarm_rate": self.false_alarm_rate,
            "k_nearest": self.k_nearest,
            "temperature": self.temperature,
            "radius_scale": self.radius_scale,
            "n_pairs": self.n_pairs,
            "offsets_ms": dict(self.offsets_ms),
            "scales": dict(self.scales),
            "meta": dict(self.meta),
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> DelayModel:
        if doc.get("format") != 2:
            raise ValueError("unsupported delay model format")
        return DelayModel(
            tuple(float(x) for x in doc["rtt_edges_ms"]),
            np.asarray(doc["log_density"], dtype=np.float64),
            lr_threshold=float(doc["lr_threshold"]),
            false_alarm_rate=float(doc["false_alarm_rate"]),
            k_nearest=int(doc["k_nearest"]),
            temperature=float(doc.get("temperature", 1.0)),
            radius_scale=float(doc.get("radius_scale", 1.0)),
            n_pairs=int(doc.get("n_pairs", 0)),
            offsets_ms={str(k): float(v) for k, v in doc.get("offsets_ms", {}).items()},
            scales={str(k): float(v) for k, v in doc.get("scales", {}).items()},
            meta=dict(doc.get("meta", {})),
        )
