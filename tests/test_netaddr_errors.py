"""The shared HOST:PORT parser and the shared "first pydantic error" message."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from fleetproof.errors import first_error, first_error_parts
from fleetproof.netaddr import AddressError, parse_host_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9410", ("127.0.0.1", 9410)),
        ("[::1]:9410", ("::1", 9410)),
        (":9410", ("127.0.0.1", 9410)),
        ("fleet.example:65535", ("fleet.example", 65535)),
    ],
)
def test_addresses_that_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    ("text", "options", "problem"),
    [
        ("9410", {}, "is not HOST:PORT"),
        ("host:", {}, "no valid port"),
        ("host:http", {}, "no valid port"),
        ("host:65536", {}, "no valid port (1-65535)"),
        ("host:-1", {"any_port": True}, "no valid port (0-65535)"),
        ("host:0", {}, "no valid port (1-65535)"),
        (":9410", {"need_host": True}, "is not HOST:PORT"),
    ],
)
def test_addresses_that_do_not(text: str, options: dict[str, bool], problem: str) -> None:
    with pytest.raises(AddressError, match=problem.replace("(", r"\(").replace(")", r"\)")) as caught:
        parse_host_port(text, **options)
    assert repr(text) in str(caught.value)


def test_port_zero_only_where_asked_for() -> None:
    assert parse_host_port("127.0.0.1:0", any_port=True) == ("127.0.0.1", 0)


class _Point(BaseModel):
    lat: float
    tags: list[int] = []

    @field_validator("lat")
    @classmethod
    def _on_earth(cls, value: float) -> float:
        if not -90 <= value <= 90:
            raise ValueError("latitude out of range")
        return value


def _error(**data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Point.model_validate(data)
    return caught.value


def test_first_error_names_the_field_path() -> None:
    assert first_error(_error(lat=1, tags=[1, "x"])) == (
        "tags.1: Input should be a valid integer, unable to parse string as an integer"
    )
    assert first_error(_error(lat=91), prefix=["point"]) == "point.lat: Value error, latitude out of range"


def test_first_error_names_the_whole_when_no_field_is_at_fault() -> None:
    with pytest.raises(ValidationError) as caught:
        _Point.model_validate([1, 2])
    assert first_error(caught.value, "point").startswith("point: Input should be")
    assert first_error_parts(caught.value)[0] == []
