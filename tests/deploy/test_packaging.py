"""The distribution: a wheel whose plain install runs the agent and stays small.

Builds the wheel from this checkout, installs it with ``--no-deps`` into a fresh virtual
environment, then installs only the plain dependencies its metadata names (pip's cache makes
that quick), and checks what a GPU node would carry: at most 10 third-party distributions and
40 MB, an agent that scans, and server commands that name the extra they need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
from tests.deploy.conftest import ROOT, require

from fleetproof.extras import COMMAND_EXTRAS, DISTRIBUTION, EXTRA_MODULES

PLAIN_LIMIT_DISTRIBUTIONS = 10
PLAIN_LIMIT_MB = 40.0


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_distribution_name_and_extras_are_consistent() -> None:
    project = _pyproject()["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"fleetproof": "fleetproof.cli:main"}
    extras = project["optional-dependencies"]
    for extra in ("nvidia", "amd", "gaudi", "otlp", "server", "all"):
        assert extra in extras, extra
    assert set(COMMAND_EXTRAS.values()) <= set(extras)
    assert set(EXTRA_MODULES) <= set(extras)
    plain = " ".join(project["dependencies"]).lower()
    for heavy in ("numpy", "fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "httpx", "nvidia-ml-py"):
        assert heavy not in plain, f"{heavy} belongs in an extra, not the plain install"
    # make run / make test install everything.
    assert "'.[all,dev]'" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_agent_and_landmark_import_nothing_heavy() -> None:
    """The agent's and the landmark's code paths import only the plain dependencies."""
    code = (
        "import sys\n"
        "import fleetproof.cli, fleetproof.agent.daemon, fleetproof.agent.export.http\n"
        "import fleetproof.agent.client, fleetproof.agent.probing, fleetproof.probe.landmark\n"
        "import fleetproof.agent.collectors.simulated, fleetproof.agent.checks.registry\n"
        "fleetproof.cli.build_parser()\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    heavy = {"numpy", "fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "httpx", "starlette"}
    assert not heavy & set(out)


def test_agent_imports_nothing_from_the_server_package() -> None:
    code = (
        "import sys\n"
        "import fleetproof.agent.daemon, fleetproof.agent.client, fleetproof.agent.probing\n"
        "import fleetproof.agent.enroll_cli, fleetproof.agent.export.http\n"
        "print(' '.join(m for m in sys.modules if m.startswith('fleetproof.server')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == []


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh environment with the wheel and its plain dependencies only."""
    tmp = tmp_path_factory.mktemp("plain")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    assert _run([*pip, "--no-deps", str(wheel)]).returncode == 0
    deps = _pyproject()["project"]["dependencies"]
    got = _run([*pip, *deps])
    why = f"cannot install the plain dependencies (no package index?): {got.stderr[-500:]}"
    require(got.returncode == 0, why)
    return env_dir


def _site_report(env_dir: Path) -> dict:
    code = (
        "import importlib.metadata as m, json, os\n"
        "out = {}\n"
        "for d in m.distributions():\n"
        "    name = d.metadata['Name'].lower().replace('_', '-')\n"
        "    size = 0\n"
        "    for f in d.files or []:\n"
        "        p = d.locate_file(f)\n"
        "        if os.path.isfile(p):\n"
        "            size += os.path.getsize(p)\n"
        "    out[name] = size\n"
        "print(json.dumps(out))\n"
    )
    res = _run([str(env_dir / "bin" / "python"), "-c", code])
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.slow
def test_plain_install_is_small(plain_venv: Path) -> None:
    sizes = _site_report(plain_venv)
    third_party = {n: s for n, s in sizes.items() if n not in {"pip", "setuptools", "wheel", DISTRIBUTION}}
    mb = sum(third_party.values()) / 1e6
    print(f"plain install: {len(third_party)} distributions, {mb:.1f} MB: {sorted(third_party)}")
    assert len(third_party) <= PLAIN_LIMIT_DISTRIBUTIONS, sorted(third_party)
    assert mb <= PLAIN_LIMIT_MB, (round(mb, 1), third_party)
    for heavy in ("numpy", "fastapi", "sqlalchemy", "uvicorn"):
        assert heavy not in third_party


@pytest.mark.slow
def test_plain_install_runs_the_agent_and_names_missing_extras(plain_venv: Path, tmp_path: Path) -> None:
    exe = str(plain_venv / "bin" / "fleetproof")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEETPROOF_", "PYTHON"))}
    env["FLEETPROOF_AGENT_STATE_DIR"] = str(tmp_path / "state")
    scan = _run([exe, "agent", "scan", "--backend", "simulated", "--json"], env=env, cwd=tmp_path)
    assert scan.returncode in (0, 4, 5), scan.stderr
    doc = json.loads(scan.stdout)
    assert len(doc["inventory"]["accelerators"]) == 8
    assert _run([exe, "--version"], env=env).stdout.startswith("fleetproof ")
    for argv in (["server", "--help"], ["server"], ["verify", "--sample"], ["audit", "verify"]):
        res = _run([exe, *argv], env=env, cwd=tmp_path)
        assert res.returncode == 2, (argv, res.stderr)
        assert f"pip install '{DISTRIBUTION}[server]'" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
    nv = _run([exe, "agent", "scan", "--backend", "nvidia"], env=env, cwd=tmp_path)
    assert nv.returncode == 3 and f"'{DISTRIBUTION}[nvidia]'" in nv.stderr, nv.stderr
