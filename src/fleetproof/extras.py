"""Which optional extra each command needs, and the message when it is not installed.

The plain install (``pip install fleetproof-gpu``) carries what every host needs: the agent
and the landmark. The fleet server, its store and the location engine come with the
``[server]`` extra, vendor libraries with ``[nvidia]``, ``[amd]`` and ``[gaudi]``, OTLP export with
``[otlp]``. A command whose extra is missing stops before it parses anything, with exit status 2
and the ``pip install`` line that fixes it, instead of an ``ImportError`` traceback from deep
inside a handler (or, for ``--help``, a help text for a command that cannot run).

>>> install_hint("server")
"install fleetproof's [server] extra: pip install 'fleetproof-gpu[server]'"
"""

from __future__ import annotations

import importlib.util

__all__ = ["COMMAND_EXTRAS", "DISTRIBUTION", "EXTRA_MODULES", "install_hint", "missing_extra"]

#: The name on the package index; the import package and the command stay ``fleetproof``.
DISTRIBUTION = "fleetproof-gpu"

#: Top-level modules each extra brings (what a command of that extra imports).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "server": ("numpy", "fastapi", "uvicorn", "sqlalchemy", "alembic", "httpx"),
    "nvidia": ("pynvml",),
    "amd": ("amdsmi",),
    "gaudi": ("pyhlml",),
    "otlp": ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"),
}

#: Top-level commands that cannot run without an extra. `verify`, `plan` and `evidence` run the
#: location engine (numpy); `demo` starts a server.
COMMAND_EXTRAS: dict[str, str] = {
    "server": "server",
    "audit": "server",
    "verify": "server",
    "plan": "server",
    "evidence": "server",
    "demo": "server",
}


def install_hint(extra: str) -> str:
    return f"install fleetproof's [{extra}] extra: pip install '{DISTRIBUTION}[{extra}]'"


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken install
        return False


def missing_extra(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be found (empty when it is installed)."""
    return [m for m in EXTRA_MODULES[extra] if not _present(m)]


def command_missing_extra(argv: list[str]) -> str | None:
    """The extra the command in ``argv`` needs and lacks, or None (also for no command)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    extra = COMMAND_EXTRAS.get(command or "")
    if extra is None or not missing_extra(extra):
        return None
    return extra
