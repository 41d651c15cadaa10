"""The demo's scenario file: where the landmarks are, which zones exist, and where each host really is.

A scenario is JSON::

    {
      "network": {"access_ms": 0.25, "inflation": 1.5, "jitter_ms": 1.0},
      "landmarks": [{"id": "fra", "lat": 50.12, "lon": 8.68, "country": "DE", "access_ms": 0.2}],
      "zones": [{"id": "eu-central", "allowed_countries": ["DE", "NL"], "lat": 50.1, "lon": 8.7}],
      "hosts": [{"id": "gpu-fra-01", "zone": "eu-central", "accelerators": 8, "vendor": "nvidia",
                 "actual": {"lat": 50.11, "lon": 8.68}, "access_ms": 0.2,
                 "faults": ["xid79@0", "thermal@2+30"]}]
    }

``actual`` is where the delay emulator places the host; the server never sees it, so a host whose
``actual`` lies outside its zone is what the verdicts must catch. A landmark may have an ``actual``
position too (advertised in one city, answering from another), which landmark vetting must catch.
``faults`` are handed to the simulated accelerator backend unchanged (``KIND[@DEVICE][+AFTER_S]``; see
``docs/agent.md`` for the kinds).

``network`` (optional, and each of its fields) says how the emulated network turns geography into
delay. Between a host (or landmark) A and a landmark B, each datagram is held one way for::

    one_way_ms = great_circle_km(A, B) / (2/3 c) × inflation + access_ms(A) + access_ms(B) + U(0, jitter_ms)

where ``access_ms`` of an end is its own ``access_ms`` when it has one, else the network's: the last
mile and the machine room at that end, paid once per leg whatever the distance. That term is what
decides whether a host next to two landmarks can be *proven* inside its country: its round trip to
them is little more than four access delays. The defaults (0.25 ms per end, inflation 1.5, jitter up
to 1 ms per leg) are the emulation the demo always had.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleetproof.errors import InputError, first_error_parts
from fleetproof.probe.netem import great_circle_km

__all__ = [
    "DEFAULT_SCENARIO",
    "Host",
    "Landmark",
    "Network",
    "Position",
    "Scenario",
    "Zone",
    "load_scenario",
    "one_way_ms",
]

DEFAULT_SCENARIO = "default-scenario.json"
#: Light in vacuum, km per ms; the emulated path runs at two thirds of it (light in fibre).
C_KM_PER_MS = 299.792458
FIBRE_KM_PER_MS = C_KM_PER_MS * 2.0 / 3.0
#: Largest access delay or jitter a scenario may ask for, ms: above this it is no longer a network.
MAX_DELAY_MS = 1000.0

_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Position(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


def one_way_ms(distance_km: float, inflation: float, access_a_ms: float, access_b_ms: float) -> float:
    """The emulated one-way delay before jitter: distance at 2/3 c, inflated, plus both access delays.

    >>> round(one_way_ms(1000.0, 1.5, 0.25, 0.25), 3)
    8.005
    """
    return distance_km / FIBRE_KM_PER_MS * inflation + access_a_ms + access_b_ms


class Network(_Model):
    """How the emulated network turns geography into delay (see the module docstring)."""

    access_ms: float = Field(default=0.25, ge=0, le=MAX_DELAY_MS)
    inflation: float = Field(default=1.5, ge=1, le=10)
    jitter_ms: float = Field(default=1.0, ge=0, le=MAX_DELAY_MS)


class Landmark(_Model):
    """A landmark as advertised (``lat``, ``lon``); ``actual`` is where it really answers from, if elsewhere.

    A mislocated landmark is what real landmark lists contain: the server registers the advertised
    position, the emulated network uses the actual one, and mesh vetting has to find it out.
    """

    id: str = Field(pattern=_ID)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    actual: Position | None = None
    access_ms: float | None = Field(default=None, ge=0, le=MAX_DELAY_MS)

    @property
    def where(self) -> Position:
        return self.actual or Position(lat=self.lat, lon=self.lon)


class Zone(_Model):
    id: str = Field(pattern=_ID)
    allowed_countries: list[str] = Field(min_length=1)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _check(self) -> Zone:
        for code in self.allowed_countries:
            if len(code) != 2 or not code.isascii() or not code.isupper():
                raise ValueError(f"allowed_countries: {code!r} is not an ISO 3166 alpha-2 code")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon for the zone's site, or neither")
        return self


class Host(_Model):
    id: str = Field(pattern=_ID)
    zone: str
    accelerators: int = Field(default=8, ge=0, le=64)
    vendor: str = Field(default="nvidia", pattern=r"^[a-z0-9_-]{1,32}$")
    actual: Position
    access_ms: float | None = Field(default=None, ge=0, le=MAX_DELAY_MS)
    faults: list[str] = Field(default_factory=list)


class Scenario(_Model):
    network: Network = Field(default_factory=Network)
    landmarks: list[Landmark] = Field(min_length=3)
    zones: list[Zone] = Field(min_length=1)
    hosts: list[Host] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _check_references(self) -> Scenario:
        for kind, items in (("landmark", self.landmarks), ("zone", self.zones), ("host", self.hosts)):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    raise ValueError(f"duplicate {kind} id {item.id!r}")
                seen.add(item.id)
        zones = {zone.id for zone in self.zones}
        for host in self.hosts:
            if host.zone not in zones:
                raise ValueError(f"host {host.id!r} names unknown zone {host.zone!r}")
        return self

    def access_ms(self, end: Host | Landmark) -> float:
        """One end's access delay: its own, else the network's."""
        return self.network.access_ms if end.access_ms is None else end.access_ms

    def delay_ms(self, a: Host | Landmark, b: Landmark) -> float:
        """One-way delay (before jitter) from a host or landmark, where it really is, to a landmark."""
        here = a.actual if isinstance(a, Host) else a.where
        there = b.where
        distance = great_circle_km(here.lat, here.lon, there.lat, there.lon)
        return one_way_ms(distance, self.network.inflation, self.access_ms(a), self.access_ms(b))


def _describe(error: ValidationError, raw: dict[str, Any]) -> str:
    """The first problem, located by its path; an item of a list is named by its id when it has one."""
    loc, message = first_error_parts(error)
    if len(loc) >= 2 and loc[1].isdigit():
        items = raw.get(loc[0])
        item = items[int(loc[1])] if isinstance(items, list) and int(loc[1]) < len(items) else None
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            loc[1] = f"{loc[1]} ({item['id']})"
    where = ".".join(loc)
    message = message.removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_scenario(text: str, path: str) -> Scenario:
    """Parse and validate a scenario; errors name the file, and the line for JSON syntax errors."""
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, f"not valid JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise InputError(path, 1, "a scenario is a JSON object with landmarks, zones and hosts")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise InputError(path, None, _describe(exc, raw)) from None


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Load a scenario file, or the bundled default when ``path`` is None."""
    if path is None:
        text = resources.files("fleetproof.demo").joinpath("data", DEFAULT_SCENARIO).read_text("utf-8")
        return parse_scenario(text, f"<bundled {DEFAULT_SCENARIO}>")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), None, f"cannot read: {exc}") from None
    return parse_scenario(text, str(path))
