"""Which candidate places to add landmarks at: a greedy cover, proposed by geometry.

With tolerance ``t`` the engine's region lies inside the union of any ``t + 1`` disks,
so a site is proven once ``t + 1`` of its disks lie inside its zone (with a small margin
for the engine's cells). A landmark *fits* a site when its modelled disk for that site
does. Each site therefore has a *demand* — ``t + 1`` less the landmarks that already fit
it — and each landmark added at a candidate place meets one unit of demand of every site
it fits. A place may take up to ``t + 1`` landmarks (two independent boxes in one metro
is how a single site is usually proven).

The cover is the classic greedy one (at each step the place that meets the most open
demand; ties go to the earlier candidate), with lazy gain updates: gains only fall. It is
not optimal — greedy set cover is within a factor ``ln n`` of it — and it is only a
proposal: the plan keeps a site's ``provable`` only where the engine agrees.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Cover", "greedy_cover"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Cover:
    """Landmarks added per candidate place, and per site the places that served it (in order)."""

    count: IntArray
    served_by: dict[int, list[int]]
    demand_left: IntArray


def greedy_cover(
    n_candidates: int, pair_site: IntArray, pair_place: IntArray, demand: IntArray, capacity: int
) -> Cover:
    """Greedy multi-cover of ``demand`` (per site) by places; ``pair_*`` list which places fit which sites.

    >>> c = greedy_cover(3, np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2, 2]), np.array([2, 2, 1]), 2)
    >>> c.count.tolist(), c.demand_left.tolist()
    ([0, 2, 1], [0, 0, 0])
    """
    demand = np.asarray(demand, dtype=np.int64).copy()
    count = np.zeros(n_candidates, dtype=np.int64)
    served: dict[int, list[int]] = {}
    order = np.argsort(pair_place, kind="stable")
    sites_of = np.split(
        np.asarray(pair_site, dtype=np.int64)[order],
        np.cumsum(np.bincount(pair_place, minlength=n_candidates))[:-1],
    )

    def gain(c: int) -> int:
        return int(np.count_nonzero(demand[sites_of[c]] > 0)) if count[c] < capacity else 0

    heap = [(-gain(c), c) for c in range(n_candidates)]
    heap = [h for h in heap if h[0] < 0]
    heapq.heapify(heap)
    while heap:
        _, c = heapq.heappop(heap)
        g = gain(c)
        if g == 0:
            continue
        if (heap and g < -heap[0][0]) or (heap and g == -heap[0][0] and heap[0][1] < c):
            heapq.heappush(heap, (-g, c))  # stale: someone else may now be better
            continue
        sites = sites_of[c][demand[sites_of[c]] > 0]
        demand[sites] -= 1
        count[c] += 1
        for s in sites.tolist():
            served.setdefault(s, []).append(c)
        if count[c] < capacity:
            heapq.heappush(heap, (-gain(c), c))
    return Cover(count, served, demand)
