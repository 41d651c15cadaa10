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

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic only for the annotation: this module stays cheap to import
    from pydantic import ValidationError

__all__ = [
    "ConfigError",
    "FleetproofError",
    "InputError",
    "UnavailableError",
    "VerificationFailed",
    "first_error",
    "first_error_parts",
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


def first_error(exc: ValidationError, whole: str = "value", prefix: Sequence[str] = ()) -> str:
    """The first problem pydantic found, as ``where: what`` for a person.

    ``where`` is the dotted path of the field (``landmarks.3.lat``), after ``prefix`` when the
    model sits inside something larger; ``whole`` names the model itself when the problem is not
    in one field. Only the first problem is told: the rest are often its consequences.
    """
    where, message = first_error_parts(exc)
    return f"{'.'.join([*prefix, *where]) or whole}: {message}"


def first_error_parts(exc: ValidationError) -> tuple[list[str], str]:
    """The path (as strings) and the message of the first problem pydantic found."""
    first = exc.errors(include_url=False)[0]
    return [str(part) for part in first["loc"]], str(first["msg"])
