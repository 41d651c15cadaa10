"""How long a host's measurements must look manipulated before the host is flagged ``suspicious``.

The engine's ``suspicious`` test is a per-round statistic (a likelihood ratio against a threshold
chosen for a false-alarm rate per round), so an honest host judged every few minutes trips it now
and then: one round in a hundred is an alert a day per host. A host-level flag, and the
``suspicious_location`` alert that goes with it, therefore need ``k`` of the host's last ``n``
rounds flagged (by default 3 of 5); a condition that lasts is caught within ``k`` rounds, a stray
round is not. The flag clears (and the alert closes) as soon as fewer than ``k`` of the last ``n``
are flagged. Each round keeps its own flag and statistic in the verdict history.

A ``proven`` round is never flagged: ``proven`` rests on the speed of light alone, which added
delay — all that manipulating a measurement can do — cannot fake, so the statistical doubt does
not apply to it, and such a host is not shown as suspicious.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Persistence", "PersistenceResult"]


@dataclass(frozen=True)
class PersistenceResult:
    round_flagged: bool
    engine_flagged: bool
    flagged_rounds: int
    window_rounds: int
    min_rounds: int
    host_flagged: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "round_flagged": self.round_flagged,
            "engine_flagged": self.engine_flagged,
            "flagged_rounds": self.flagged_rounds,
            "window_rounds": self.window_rounds,
            "min_rounds": self.min_rounds,
            "host_flagged": self.host_flagged,
        }


@dataclass(frozen=True)
class Persistence:
    """``min_rounds`` (k) of the last ``window_rounds`` (n) rounds flagged make the host suspicious.

    >>> p = Persistence(2, 3)
    >>> p.judge("consistent", True, [False, True]).host_flagged
    True
    >>> p.judge("proven", True, [True, True]).host_flagged
    False
    """

    min_rounds: int = 3
    window_rounds: int = 5

    def judge(self, verdict: str, engine_flagged: bool, earlier: Sequence[bool]) -> PersistenceResult:
        """This round's flag and the host's; ``earlier`` are the previous rounds' flags, newest first."""
        round_flagged = bool(engine_flagged) and verdict != "proven"
        window = [round_flagged, *earlier][: self.window_rounds]
        flagged = sum(1 for f in window if f)
        return PersistenceResult(
            round_flagged=round_flagged,
            engine_flagged=bool(engine_flagged),
            flagged_rounds=flagged,
            window_rounds=self.window_rounds,
            min_rounds=self.min_rounds,
            host_flagged=verdict != "proven" and flagged >= self.min_rounds,
        )
