"""Landmarks (servers at advertised coordinates) and the landmark mesh."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetproof.geo.sphere import unit_vectors

__all__ = ["Landmark", "LandmarkSet", "MeshLink"]


@dataclass(frozen=True)
class Landmark:
    """A server whose position is known (advertised); ``country`` is ISO alpha-2 when given.

    >>> Landmark("fra1", 50.11, 8.68, "DE").country
    'DE'
    """

    id: str
    lat: float
    lon: float
    country: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("landmark id must not be empty")
        if not (-90.0 <= self.lat <= 90.0) or not (-180.0 <= self.lon <= 180.0):
            raise ValueError(f"landmark {self.id!r}: position out of range ({self.lat}, {self.lon})")

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "lat": self.lat, "lon": self.lon, "country": self.country}


@dataclass(frozen=True)
class MeshLink:
    """The minimum RTT measured between two landmarks."""

    a: str
    b: str
    rtt_ms: float


class LandmarkSet:
    """Landmarks in a fixed order with vectorised coordinates; ids must be unique."""

    def __init__(self, landmarks: Iterable[Landmark]) -> None:
        self.landmarks: tuple[Landmark, ...] = tuple(landmarks)
        self.ids: tuple[str, ...] = tuple(lm.id for lm in self.landmarks)
        self.index: dict[str, int] = {}
        for i, lid in enumerate(self.ids):
            if lid in self.index:
                raise ValueError(f"duplicate landmark id {lid!r}")
            self.index[lid] = i
        self.lat: npt.NDArray[np.float64] = np.array([lm.lat for lm in self.landmarks], dtype=np.float64)
        self.lon: npt.NDArray[np.float64] = np.array([lm.lon for lm in self.landmarks], dtype=np.float64)
        self.vectors: npt.NDArray[np.float64] = unit_vectors(self.lat, self.lon).reshape(-1, 3)

    def __len__(self) -> int:
        return len(self.landmarks)

    def subset(self, ids: Sequence[str]) -> LandmarkSet:
        return LandmarkSet(self.landmarks[self.index[i]] for i in ids)
