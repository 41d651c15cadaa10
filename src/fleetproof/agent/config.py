"""Agent settings: one table, read from defaults, then a TOML file, then the environment, then flags.

The table is :data:`SETTINGS`: the agent's own settings are the typed fields of
:class:`Settings` (each with its default and help text), and the health checks and
collectors add the thresholds and options they declare themselves (see
:mod:`fleetproof.agent.checks.registry` and :mod:`fleetproof.agent.collectors.registry`), so a
new check or backend brings its settings along. ``docs/agent.md`` documents each one and a
test fails when one is missing there. The file is TOML, either flat or under an ``[agent]``
table; the environment variable for setting ``interval_s`` is ``FLEETPROOF_AGENT_INTERVAL_S``.
The file comes from ``--config``, else ``FLEETPROOF_AGENT_CONFIG``, else
``/etc/fleetproof/agent.toml`` when that exists.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fleetproof.agent.checks.registry import check_settings
from fleetproof.agent.collectors.registry import collector_settings
from fleetproof.agent.setting import ENV_PREFIX, Setting, comma_list
from fleetproof.errors import ConfigError

__all__ = ["SETTINGS", "Setting", "Settings", "load_settings", "settings_table"]

DEFAULT_CONFIG_PATH = Path("/etc/fleetproof/agent.toml")
ENROLLMENT_FILE = "server.json"  # written in the state directory by `fleetproof agent enroll`

T = TypeVar("T")


def _setting(default: T, help: str) -> T:
    """A field of :class:`Settings` that is also a row of the settings table."""
    value: T = field(default=default, metadata={"help": help})
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved settings: the agent's own as typed fields, the checks' and collectors' in ``declared``."""

    backend: str = _setting(
        "auto",
        "Backends to read, comma-separated (nvidia, amd, gaudi, ascend, simulated); "
        "`auto` reads every hardware backend present.",
    )
    interval_s: float = _setting(10.0, "Seconds between collection rounds.")
    listen: str = _setting(
        "127.0.0.1:9410", "HOST:PORT for /metrics and the JSON endpoints; empty turns them off."
    )
    state_dir: str = _setting(
        "",
        "Directory for the outbox, the last inventory and the enrollment record; empty "
        "means /var/lib/fleetproof/agent as root, else ~/.local/state/fleetproof/agent "
        "(with the simulated backend: ~/.local/state/fleetproof/agent-simulated).",
    )
    hostname: str = _setting(
        "", "Host name to report; empty means the name enrolled under, else the system's."
    )
    server_url: str = _setting(
        "",
        "Fleet server URL; empty means the one remembered by `fleetproof agent enroll`, and no "
        "delivery (the outbox fills, bounded) when the agent was never enrolled.",
    )
    outbox_max_items: int = _setting(
        20000, "Most items the outbox keeps; when full, oldest telemetry goes first."
    )
    outbox_max_bytes: int = _setting(200 * 1024 * 1024, "Most payload bytes the outbox keeps.")
    outbox_batch_size: int = _setting(100, "Items per delivery request.")
    backoff_base_s: float = _setting(
        1.0, "First retry delay after a failed delivery, seconds (doubles, jittered)."
    )
    backoff_max_s: float = _setting(300.0, "Longest retry delay, seconds.")
    disabled_checks: str = _setting("", "Comma-separated health components to turn off.")
    probe_interval_s: float = _setting(
        300.0,
        "Seconds between probe rounds of the landmarks (needs an enrolled agent); 0 turns probing off.",
    )
    landmarks_file: str = _setting(
        "",
        "Landmark directory to probe (DIR.csv: id,lat,lon,address,public_key); empty: ask the server.",
    )
    probe_samples: int = _setting(10, "Challenges per landmark in each probe round (1-64).")
    probe_timeout_s: float = _setting(1.0, "Seconds to wait for a landmark's answer before a retry.")
    otlp_endpoint: str = _setting(
        "", "OTLP/HTTP metrics endpoint (e.g. http://127.0.0.1:4318/v1/metrics); empty: off."
    )
    otlp_interval_s: float = _setting(60.0, "Seconds between OTLP exports.")
    # The settings that health checks and collectors declare, by name (see settings_table()).
    declared: Mapping[str, Any] = field(default_factory=dict)
    # Where each value came from: "default", a file path, an environment variable, "command line".
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def get(self, name: str) -> Any:
        """Any setting's value by name: a typed field, or one a check or collector declared."""
        if name in _CORE:
            return getattr(self, name)
        return self.declared[name]

    def as_dict(self) -> dict[str, Any]:
        return {name: self.get(name) for name in (*_CORE, *self.declared)}

    def replace(self, **changes: Any) -> Settings:
        table = {s.name: s for s in settings_table()}
        core = {k: _coerce(table[k], v, "argument") for k, v in changes.items() if k in _CORE}
        declared = {**self.declared}
        declared.update({k: _coerce(table[k], v, "argument") for k, v in changes.items() if k not in _CORE})
        sources = {**self.sources, **dict.fromkeys(changes, "argument")}
        return dataclasses.replace(self, **core, declared=declared, sources=sources)

    def list(self, name: str) -> list[str]:
        return comma_list(self.get(name))

    def thresholds(self) -> dict[str, float]:
        """The values of the thresholds the health checks declare."""
        return {s.name: float(self.get(s.name)) for s in check_settings()}

    def collector_options(self) -> dict[str, Any]:
        """The values of the options the collectors declare, by setting name."""
        return {s.name: self.get(s.name) for s in collector_settings()}

    def resolved_state_dir(self) -> Path:
        """The ``state_dir`` setting, else the default for this user.

        A simulated agent (``backend`` naming ``simulated``) never takes the default of a real
        one: its outbox and inventory would mix made-up devices into the host's, and a try-out
        as root would write into /var/lib. Unless ``state_dir`` is set, it keeps its state in
        ``~/.local/state/fleetproof/agent-simulated`` of whoever runs it.
        """
        if self.state_dir:
            return Path(self.state_dir).expanduser()
        if "simulated" in self.list("backend"):
            return Path.home() / ".local" / "state" / "fleetproof" / "agent-simulated"
        # The defaults `fleetproof agent enroll` writes the identity to, through these same settings.
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            return Path("/var/lib/fleetproof/agent")
        return Path.home() / ".local" / "state" / "fleetproof" / "agent"

    def resolved_hostname(self) -> str:
        """The ``hostname`` setting, else the name the agent was enrolled under, else the system's."""
        import json
        import socket

        if self.hostname:
            return self.hostname
        try:
            enrolled = json.loads((self.resolved_state_dir() / ENROLLMENT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            enrolled = {}
        name = enrolled.get("hostname") if isinstance(enrolled, dict) else None
        return str(name or socket.gethostname())


_CORE: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings) if "help" in f.metadata)
CORE_SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, f.default, f.metadata["help"])
    for f in dataclasses.fields(Settings)
    if "help" in f.metadata
)


def settings_table() -> tuple[Setting, ...]:
    """Every setting: the agent's own, then those of the registered checks and collectors.

    A check or backend that declares a name the agent already uses is refused here, at the
    first load, rather than one of the two being silently ignored.
    """
    table = (*CORE_SETTINGS, *check_settings(), *collector_settings())
    names = [s.name for s in table]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"settings declared twice (by the agent, a check or a backend): {', '.join(twice)}")
    return table


SETTINGS: tuple[Setting, ...] = settings_table()  # the built-in table, as docs/agent.md lists it


def _coerce(setting: Setting, raw: Any, where: str) -> Any:
    kind = type(setting.default)
    if isinstance(raw, dict | list) or (isinstance(raw, bool) and kind is not bool):
        # TOML arrays, tables and booleans would otherwise be str()-ed or read as 0/1 silently.
        raise ConfigError(f"{where}: setting {setting.name} must be {kind.__name__}, not {raw!r}")
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in {"1", "true", "yes", "on"}:
                return True
            if str(raw).lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if kind is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError(raw)
            value: Any = int(raw)
        elif kind is float:
            value = float(raw)
            if not math.isfinite(value):  # "nan" and "inf" parse, but no interval or limit is either
                raise ValueError(raw)
        else:
            value = str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: setting {setting.name} must be {kind.__name__}, not {raw!r}") from None
    if isinstance(value, int | float) and value < 0:
        raise ConfigError(f"{where}: setting {setting.name} must not be negative, not {raw!r}")
    return value


def load_settings(
    config_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, then the file, then the environment, then ``overrides`` (command-line flags)."""
    env = os.environ if env is None else env
    table = settings_table()
    by_name = {s.name: s for s in table}
    values = {s.name: s.default for s in table}
    sources = {s.name: "default" for s in table}
    path = config_path or env.get(ENV_PREFIX + "CONFIG")
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    if path:
        for key, raw in _read_file(Path(path)).items():
            if key not in by_name:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(by_name[key], raw, str(path))
            sources[key] = str(path)
    for setting in table:
        if setting.env in env:
            values[setting.name] = _coerce(setting, env[setting.env], setting.env)
            sources[setting.name] = setting.env
    for key, raw in (overrides or {}).items():
        if raw is not None:
            if key not in by_name:
                raise ConfigError(f"unknown setting {key!r}")
            values[key] = _coerce(by_name[key], raw, "command line")
            sources[key] = "command line"
    # Zero would spin, never deliver, or be refused deep inside a library with a traceback.
    for name in ("interval_s", "outbox_batch_size", "otlp_interval_s", "probe_timeout_s"):
        if values[name] <= 0:
            raise ConfigError(f"setting {name} must be greater than 0 ({sources[name]})")
    if not 1 <= values["probe_samples"] <= 64:
        raise ConfigError(f"setting probe_samples must be between 1 and 64 ({sources['probe_samples']})")
    core = {name: values.pop(name) for name in _CORE}
    return Settings(**core, declared=values, sources=sources)


def _read_file(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file: half a megabyte of the agent's memory otherwise

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("agent", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [agent] must be a table")
    outside = sorted(k for k in data if k != "agent") if table is not data else []
    if outside:  # keys above [agent] would otherwise be ignored without a word
        raise ConfigError(f"{path}: settings outside the [agent] table: {', '.join(outside)}")
    return table
