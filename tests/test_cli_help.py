"""Every subcommand's --help is written for the people who run it: every option explained, no
internal markup from docstrings, and --version answered everywhere."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from collections.abc import Iterator

import pytest

from fleetproof import __version__
from fleetproof.cli import build_parser

#: Sphinx roles, reST literals and literal-block markers, doctest prompts: for the code's readers.
INTERNAL = re.compile(r":(func|class|mod|meth|data|attr):`|``|::\s*$|>>>|Shape::", re.M)


def _walk(
    parser: argparse.ArgumentParser, path: list[str]
) -> Iterator[tuple[list[str], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, [*path, name])


COMMANDS = [path for path, _ in _walk(build_parser(), [])]


def _parser(path: list[str]) -> argparse.ArgumentParser:
    for p_path, parser in _walk(build_parser(), []):
        if p_path == path:
            return parser
    raise AssertionError(path)


def test_the_walk_finds_every_part() -> None:
    names = {" ".join(p) for p in COMMANDS}
    for expected in (
        "agent run",
        "agent scan",
        "agent enroll",
        "landmark serve",
        "server zone add",
        "verify",
    ):
        assert expected in names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "fleetproof")
def test_help_is_for_users(path: list[str]) -> None:
    parser = _parser(path)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, (
            f"{' '.join(path)}: {action.option_strings or action.dest} has no help"
        )
    text = parser.format_help()
    found = INTERNAL.search(text)
    assert found is None, f"{' '.join(path)} --help shows {found.group(0)!r}"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "fleetproof")
def test_version_on_every_subcommand(path: list[str]) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        build_parser().parse_args([*path, "--version"])
    assert stop.value.code == 0
    assert out.getvalue().strip() == f"fleetproof {__version__}"


def test_the_check_catches_internal_markup() -> None:
    assert INTERNAL.search("Other parts add subcommands through :func:`agent_subparsers`.")
    assert INTERNAL.search("Shape::\n")
    assert INTERNAL.search("run ``fleetproof agent enroll``")
    assert not INTERNAL.search("HOST:PORT for /metrics; 0.0.0.0:9410")
