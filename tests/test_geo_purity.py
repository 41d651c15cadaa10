"""The engine in ``fleetproof.geo`` stays pure: no files, sockets, clocks, randomness or globals that change.

Purity is what lets the batch CLI and the server share it, and lets property tests
explore it freely. This test reads the source (it does not import it) and fails on
any import of a module that does I/O or reads a clock, and on calls to ``open``,
``print`` or ``input``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GEO = Path(__file__).resolve().parents[1] / "src" / "fleetproof" / "geo"

FORBIDDEN_MODULES = {
    "asyncio",
    "datetime",
    "glob",
    "http",
    "importlib",
    "io",
    "logging",
    "multiprocessing",
    "os",
    "pathlib",
    "pickle",
    "random",
    "secrets",
    "select",
    "selectors",
    "shutil",
    "signal",
    "socket",
    "sqlite3",
    "ssl",
    "subprocess",
    "sys",
    "tempfile",
    "threading",
    "time",
    "urllib",
    "uuid",
    # Packages of this project that do I/O.
    "fleetproof.agent",
    "fleetproof.probe",
    "fleetproof.server",
    "fleetproof.batch",
    "fleetproof.cli",
}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}


def _sources() -> list[Path]:
    return sorted(GEO.rglob("*.py"))


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            for bad in FORBIDDEN_MODULES:
                if name == bad or name.startswith(bad + "."):
                    found.append(f"{path.name}:{node.lineno} imports {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"random", "default_rng", "RandomState"}
            and isinstance(node.value, ast.Name)
            and node.value.id in {"np", "numpy"}
        ):
            found.append(f"{path.name}:{node.lineno} uses numpy randomness")
    return found


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_geo_module_is_pure(path: Path) -> None:
    assert _violations(path) == []


def test_guard_catches_io(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\nfrom time import monotonic\nx = open('f')\nimport numpy as np\nnp.random.rand()\n"
    )
    found = _violations(bad)
    assert len(found) == 4, found
