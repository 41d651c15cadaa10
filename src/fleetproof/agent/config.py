"""Agent settings: one table, read from defaults, then a TOML file, then the environment, then flags.

Every setting is a :class:`Setting` in :data:`SETTINGS` with a default and a help
text; ``docs/agent.md`` documents each one and a test fails when one is missing
there. The file is TOML, either flat or under an ``[agent]`` table; the
environment variable for setting ``interval_s`` is ``FLEETPROOF_AGENT_INTERVAL_S``.
The file comes from ``--config``, else ``FLEETPROOF_AGENT_CONFIG``, else
``/etc/fleetproof/agent.toml`` when that exists.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetproof.errors import ConfigError

__all__ = ["SETTINGS", "Setting", "Settings", "load_settings"]

DEFAULT_CONFIG_PATH = Path("/etc/fleetproof/agent.toml")
ENROLLMENT_FILE = "server.json"  # written in the state directory by `fleetproof agent enroll`
ENV_PREFIX = "FLEETPROOF_AGENT_"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "backend",
        "auto",
        "Backends to read, comma-separated (nvidia, amd, gaudi, ascend, simulated); "
        "`auto` reads every hardware backend present.",
    ),
    Setting("interval_s", 10.0, "Seconds between collection rounds."),
    Setting(
        "listen", "127.0.0.1:9410", "HOST:PORT for /metrics and the JSON endpoints; empty turns them off."
    ),
    Setting(
        "state_dir",
        "",
        "Directory for the outbox, the last inventory and the enrollment record; empty "
        "means /var/lib/fleetproof/agent as root, else ~/.local/state/fleetproof/agent "
        "(with the simulated backend: ~/.local/state/fleetproof/agent-simulated).",
    ),
    Setting("hostname", "", "Host name to report; empty means the name enrolled under, else the system's."),
    Setting(
        "server_url",
        "",
        "Fleet server URL; empty means the one remembered by `fleetproof agent enroll`, and no "
        "delivery (the outbox fills, bounded) when the agent was never enrolled.",
    ),
    Setting(
        "outbox_max_items", 20000, "Most items the outbox keeps; when full, oldest telemetry goes first."
    ),
    Setting("outbox_max_bytes", 200 * 1024 * 1024, "Most payload bytes the outbox keeps."),
    Setting("outbox_batch_size", 100, "Items per delivery request."),
    Setting("backoff_base_s", 1.0, "First retry delay after a failed delivery, seconds (doubles, jittered)."),
    Setting("backoff_max_s", 300.0, "Longest retry delay, seconds."),
    Setting("simulated_devices", 8, "Number of devices of the simulated backend."),
    Setting("simulated_seed", 0, "Seed of the simulated backend (same seed, same readings)."),
    Setting(
        "simulated_vendor",
        "simulated",
        "Vendor label of the simulated devices (simulated, nvidia, amd, gaudi, ascend); "
        "the readings stay simulated.",
    ),
    Setting(
        "simulated_faults", "", "Faults to inject into the simulated backend, e.g. `xid79@2+30,thermal@1`."
    ),
    Setting("disk_paths", "/", "Comma-separated paths whose disk use is watched."),
    Setting(
        "kernel_log_path",
        "auto",
        "Where to read NVIDIA Xid lines from the kernel log: `kmsg` (/dev/kmsg), `journal` (the "
        "systemd journal), a log file (e.g. /var/log/kern.log), `auto` (kmsg, else the journal), "
        "or empty (NVML only).",
    ),
    Setting("npu_smi_path", "npu-smi", "The Ascend `npu-smi` program."),
    Setting("disabled_checks", "", "Comma-separated health components to turn off."),
    Setting("xid_window_s", 3600.0, "How long an Xid event keeps affecting health, seconds."),
    Setting("ecc_storm_per_minute", 1000.0, "Corrected ECC errors per minute that count as a storm."),
    Setting("retired_pages_limit", 60.0, "Retired memory pages at which a device is unhealthy."),
    Setting("temperature_degraded_c", 87.0, "Device temperature at which it is degraded, °C."),
    Setting("disk_degraded_percent", 90.0, "Disk use at which the host is degraded, percent."),
    Setting("disk_unhealthy_percent", 97.0, "Disk use at which the host is unhealthy, percent."),
    Setting("memory_degraded_percent", 90.0, "Memory use at which the host is degraded, percent."),
    Setting("memory_unhealthy_percent", 97.0, "Memory use at which the host is unhealthy, percent."),
    Setting(
        "probe_interval_s",
        300.0,
        "Seconds between probe rounds of the landmarks (needs an enrolled agent); 0 turns probing off.",
    ),
    Setting(
        "landmarks_file",
        "",
        "Landmark directory to probe (DIR.csv: id,lat,lon,address,public_key); empty: ask the server.",
    ),
    Setting("probe_samples", 10, "Challenges per landmark in each probe round (1-64)."),
    Setting("probe_timeout_s", 1.0, "Seconds to wait for a landmark's answer before a retry."),
    Setting(
        "otlp_endpoint", "", "OTLP/HTTP metrics endpoint (e.g. http://127.0.0.1:4318/v1/metrics); empty: off."
    ),
    Setting("otlp_interval_s", 60.0, "Seconds between OTLP exports."),
)

THRESHOLD_SETTINGS = (
    "xid_window_s",
    "ecc_storm_per_minute",
    "retired_pages_limit",
    "temperature_degraded_c",
    "disk_degraded_percent",
    "disk_unhealthy_percent",
    "memory_degraded_percent",
    "memory_unhealthy_percent",
)
_BY_NAME = {s.name: s for s in SETTINGS}


class Settings:
    """Resolved settings; attribute access by setting name, with the default's type."""

    def __init__(self, values: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> None:
        self._values = dict(values)
        self.sources = dict(sources or {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def replace(self, **changes: Any) -> Settings:
        merged = dict(self._values)
        sources = dict(self.sources)
        for key, value in changes.items():
            merged[key] = _coerce(_BY_NAME[key], value, "argument")
            sources[key] = "argument"
        return Settings(merged, sources)

    def list(self, name: str) -> list[str]:
        return [p.strip() for p in str(self._values[name]).split(",") if p.strip()]

    def thresholds(self) -> dict[str, float]:
        return {name: float(self._values[name]) for name in THRESHOLD_SETTINGS}

    def resolved_state_dir(self) -> Path:
        """The ``state_dir`` setting, else the default for this user.

        A simulated agent (``backend`` naming ``simulated``) never takes the default of a real
        one: its outbox and inventory would mix made-up devices into the host's, and a try-out
        as root would write into /var/lib. Unless ``state_dir`` is set, it keeps its state in
        ``~/.local/state/fleetproof/agent-simulated`` of whoever runs it.
        """
        if self._values["state_dir"]:
            return Path(self._values["state_dir"]).expanduser()
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

        if self._values["hostname"]:
            return str(self._values["hostname"])
        try:
            enrolled = json.loads((self.resolved_state_dir() / ENROLLMENT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            enrolled = {}
        name = enrolled.get("hostname") if isinstance(enrolled, dict) else None
        return str(name or socket.gethostname())


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
    values = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}
    path = config_path or env.get(ENV_PREFIX + "CONFIG")
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    if path:
        for key, raw in _read_file(Path(path)).items():
            if key not in _BY_NAME:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(_BY_NAME[key], raw, str(path))
            sources[key] = str(path)
    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = _coerce(setting, env[setting.env], setting.env)
            sources[setting.name] = setting.env
    for key, raw in (overrides or {}).items():
        if raw is not None:
            values[key] = _coerce(_BY_NAME[key], raw, "command line")
            sources[key] = "command line"
    # Zero would spin, never deliver, or be refused deep inside a library with a traceback.
    for name in ("interval_s", "outbox_batch_size", "otlp_interval_s", "probe_timeout_s"):
        if values[name] <= 0:
            raise ConfigError(f"setting {name} must be greater than 0 ({sources[name]})")
    if not 1 <= values["probe_samples"] <= 64:
        raise ConfigError(f"setting probe_samples must be between 1 and 64 ({sources['probe_samples']})")
    return Settings(values, sources)


def _read_file(path: Path) -> dict[str, Any]:
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
