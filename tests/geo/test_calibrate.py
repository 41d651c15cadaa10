"""Calibration: held-out access delays are what each landmark's delay would be without one other."""

from __future__ import annotations

import numpy as np

from fleetproof.geo import SpeedModel
from fleetproof.geo.calibrate import access_delays, held_out_access_delays


def test_held_out_access_delays_equal_recomputing_without_each_landmark() -> None:
    rng = np.random.default_rng(7)
    n = 9
    dist = rng.uniform(50.0, 5000.0, (n, n))
    dist = (dist + dist.T) / 2
    np.fill_diagonal(dist, 0.0)
    speed = SpeedModel()
    rtt = dist / (speed.v_max_km_per_ms / 2) * rng.uniform(1.1, 2.0, (n, n)) + rng.uniform(0, 6, (n, n))
    rtt = (rtt + rtt.T) / 2
    rtt[2, 5] = rtt[5, 2] = np.nan  # unmeasured pair
    np.fill_diagonal(rtt, np.nan)
    held = held_out_access_delays(rtt, dist, speed)
    for i in range(n):
        without = rtt.copy()
        without[i, :] = without[:, i] = np.nan
        expected = access_delays(without, dist, speed)
        others = np.arange(n) != i
        assert np.allclose(held[i, others], expected[others])
    # Without anyone held out, the smallest excess decides, as for access_delays itself.
    assert np.all(held.max(axis=0) >= access_delays(rtt, dist, speed) - 1e-12)
