from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import pytest

import fleetproof.cli


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A writable copy of the bundled sample."""
    src = Path(str(resources.files("fleetproof.batch.data.sample")))
    dst = tmp_path / "in"
    dst.mkdir()
    for name in ("landmarks.csv", "mesh.csv", "rtts.csv", "claims.csv", "regions.json"):
        shutil.copy(src / name, dst / name)
    return dst


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., int]]:
    """``fleetproof`` with the verify command registered, as cli.py will list it."""
    monkeypatch.setattr(fleetproof.cli, "COMMAND_MODULES", ("fleetproof.batch.cli",))
    yield lambda *argv: fleetproof.cli.main([str(a) for a in argv])
