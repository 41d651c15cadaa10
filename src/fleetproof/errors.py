"""Errors meant for users, as one hierarchy.

They are raised anywhere and caught once, at the edge (the CLI's ``main`` or the
API's exception handlers), where they become a one-line message and a non-zero
exit status or a 4xx answer. Anything else that escapes is a bug and keeps its
traceback.

::

    FleetproofError            message for a person; exit status 2
    ├── InputError             a bad input file: names the file, the line and what is wrong
    ├── ConfigError            a bad setting or command-line value
    ├── UnavailableError       a needed service, device or library is not there; exit status 3
    └── VerificationFailed     a check ran and found a failure (bad signature, broken chain); exit 1
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FleetproofError",
    "InputError",
    "UnavailableError",
    "VerificationFailed",
]


class FleetproofError(Exception):
    """An error whose message is written for the person running fleetproof."""

    exit_code = 2


class InputError(FleetproofError):
    """A problem in an input file, located by file and (1-based) line."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {problem}")


class ConfigError(FleetproofError):
    """A bad setting, environment variable or command-line value."""


class UnavailableError(FleetproofError):
    """Something the command needs is missing (a server, a device, a vendor library)."""

    exit_code = 3


class VerificationFailed(FleetproofError):
    """A check completed and found at least one failure."""

    exit_code = 1
