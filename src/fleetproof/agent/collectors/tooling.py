"""What every command-line and sysfs backend shares: running a vendor tool, parsing its text, sysfs reads.

Most accelerator vendors publish no Python binding, only a command-line tool
(``cnmon``, ``hy-smi``, ``mthreads-gmi``, ``ixsmi``, ``mx-smi``, ``efsmi``,
``xpu-smi``). Such a tool is the least dependable thing the agent touches: on a
wedged driver it can hang in the kernel, print half a table, or print nothing.
So it runs here, once, with these guarantees:

* one fixed argv, no shell, standard input closed, output capped, and ``LC_ALL=C`` so that a
  tool that localises its tables prints the English headers the parsers look for;
* a deadline per command: past it the process is killed and the round of *that*
  backend fails with :class:`ToolTimeout`; the other backends and the agent go on;
* a process that does not die even when killed (uninterruptible sleep inside a
  wedged driver) is remembered and not started again until it has gone, so a
  stuck tool costs one timeout, not one stuck process per round;
* a missing program is :class:`ToolMissing`, reported as "not found".

:class:`ToolCollector` is the base of the command-line collectors: a subclass
names its tool, the commands of one round, and a pure ``parse`` function; the
base does availability, running, errors and the "garbage" check (output with no
device in it). The runner is injectable, so tests feed recorded output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from fleetproof.agent.collectors.base import DeviceInfo, DeviceReading, Option, Snapshot

__all__ = [
    "GIB",
    "MIB",
    "Runner",
    "ToolCollector",
    "ToolError",
    "ToolFailed",
    "ToolGarbage",
    "ToolMissing",
    "ToolRunner",
    "ToolTimeout",
    "box_rows",
    "device_blocks",
    "memory",
    "number",
    "reading",
    "search",
    "smi_readings",
    "stand_in_id",
    "status_cell",
    "table_blocks",
    "tool_backend",
    "used_total",
    "word",
]

MIB = 1024 * 1024
GIB = 1024 * MIB
MAX_OUTPUT_BYTES = 4 * MIB  # no real status table comes near this; more is garbage
Runner = Callable[[Sequence[str]], str]


class ToolError(RuntimeError):
    """A vendor tool could not give a usable answer this round."""


class ToolMissing(ToolError):
    """The program is not installed (or not on the PATH)."""


class ToolTimeout(ToolError):
    """The program did not finish within its deadline, or an earlier run of it is still stuck."""


class ToolFailed(ToolError):
    """The program ran and exited with a non-zero status."""


class ToolGarbage(ToolError):
    """The program answered, but nothing in its output reads as a device."""


def _first_line(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").strip()
    return text.splitlines()[0][:200] if text else ""


class ToolRunner:
    """Runs one vendor query at a time with a deadline; see the module docstring for the guarantees.

    ``popen`` is injectable so that tests can stand in a process that ignores being killed.
    """

    def __init__(
        self,
        timeout_s: float = 10.0,
        kill_wait_s: float = 2.0,
        popen: Callable[..., Any] = subprocess.Popen,
    ) -> None:
        self.timeout_s = timeout_s
        self.kill_wait_s = kill_wait_s
        self._popen = popen
        self._stuck: dict[str, Any] = {}

    def __call__(self, argv: Sequence[str]) -> str:
        program = argv[0]
        stuck = self._stuck.get(program)
        if stuck is not None:
            if stuck.poll() is None:
                raise ToolTimeout(
                    f"{program}: an earlier run (pid {stuck.pid}) is still stuck after being killed; "
                    "not starting another"
                )
            del self._stuck[program]
        try:
            proc = self._popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a terminal signal to the agent does not reach the tool
                env={**os.environ, "LC_ALL": "C"},
            )
        except FileNotFoundError as exc:
            raise ToolMissing(f"{program}: not found") from exc
        except OSError as exc:
            raise ToolFailed(f"{program}: cannot be started: {exc.strerror or exc}") from exc
        try:
            out, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.communicate(timeout=self.kill_wait_s)
            except subprocess.TimeoutExpired:
                self._stuck[program] = proc  # in the kernel; looked at again next round
            raise ToolTimeout(f"{' '.join(argv)}: no answer within {self.timeout_s:g} s (killed)") from None
        if proc.returncode != 0:
            why = _first_line(err) or _first_line(out) or "no message"
            raise ToolFailed(f"{' '.join(argv)} exited with status {proc.returncode}: {why}")
        if len(out) > MAX_OUTPUT_BYTES:
            raise ToolGarbage(f"{' '.join(argv)} printed {len(out)} bytes; a status table is far smaller")
        return str(out.decode("utf-8", errors="replace"))


# -- parsing helpers -------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"[-+]?\d+(?:\.\d+)?")
_USED_TOTAL_RE = re.compile(
    r"(?P<used>\d+(?:\.\d+)?)\s*(?P<uu>[KMGT]i?B)?\s*[/(]\s*(?P<total>\d+(?:\.\d+)?)\s*(?P<tu>[KMGT]i?B)?",
    re.IGNORECASE,
)
_UNIT_BYTES = {"K": 1024, "M": MIB, "G": GIB, "T": 1024 * GIB}


def number(text: str | None) -> float | None:
    """The first number in ``text`` ("49.0C" → 49.0, "118.0W" → 118.0); None for N/A, NA, -- or nothing."""
    if text is None:
        return None
    m = _NUMBER_RE.search(text)
    return float(m.group(0)) if m else None


def used_total(text: str, default_unit: str = "MiB") -> tuple[float, float] | None:
    """Memory "used / total" in bytes from "3161 / 65536", "0 MiB/ 23374 MiB" or "662MiB(16384MiB)"."""
    m = _USED_TOTAL_RE.search(text)
    if not m:
        return None
    used_unit = (m["uu"] or m["tu"] or default_unit)[0].upper()
    total_unit = (m["tu"] or m["uu"] or default_unit)[0].upper()
    return float(m["used"]) * _UNIT_BYTES[used_unit], float(m["total"]) * _UNIT_BYTES[total_unit]


def box_rows(text: str, border: str = "|") -> Iterator[list[str]]:
    """The cells of every table row drawn with ``border`` characters, stripped; rules and text skipped."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith(border) or set(stripped) <= set(border + "-=+ *"):
            continue
        yield [c.strip() for c in stripped.strip(border).split(border)]


def table_blocks(text: str, bordered: bool = True) -> list[list[list[str]]]:
    """The device blocks of an nvidia-smi-style table: the rows between rule lines.

    Reading starts after the header's rule (``|===+===|`` in a bordered table, the first
    ``+---`` line in one without an outer border, as ``mthreads-gmi`` draws it) and stops at
    the first blank line once a block was read: the process table below is not a device. Each
    block is a list of rows, each row the list of its ``|``-separated cells, stripped.
    """
    blocks: list[list[list[str]]] = []
    current: list[list[str]] = []
    started = False
    for line in text.splitlines():
        s = line.strip()
        rule = bool(s) and set(s) <= set("+-=| ")
        if not started:
            started = rule and ("=" in s if bordered else s.startswith("+"))
        elif not s or rule:
            if current:
                blocks.append(current)
                current = []
            if not s and blocks:
                break
        elif s.startswith("|") or not bordered:
            current.append([c.strip() for c in (s.strip("|") if bordered else s).split("|")])
    if current:
        blocks.append(current)
    return blocks


def device_blocks(text: str, bordered: bool = True) -> Iterator[tuple[str, str, list[list[str]]]]:
    """``(tool index, name, block)`` for each block whose first cell is "<index> <name ...>".

    Blocks with fewer than two rows of three cells (a truncated table) are skipped.
    """
    for block in table_blocks(text, bordered):
        if len(block) < 2 or min(len(row) for row in block[:2]) < 3:
            continue
        head = block[0][0].split(maxsplit=1)
        if len(head) == 2 and head[0].isdigit():
            yield head[0], head[1], block


Row = tuple[str, "str | None", dict[str, "float | None"], dict[str, Any]]


def smi_readings(
    text: str,
    vendor: str,
    id_prefix: str,
    row: Callable[[str, list[list[str]]], Row],
    bordered: bool = True,
    **info: Any,
) -> list[DeviceReading]:
    """Readings from an nvidia-smi-style table: ``row(name, block)`` gives each device's
    ``(model, bus id, metrics, extra device info)``; ``info`` (the driver version) is shared.
    The bus id stands in for the UUID these tools do not show."""
    readings: list[DeviceReading] = []
    for index, name, block in device_blocks(text, bordered):
        model, bus_id, metrics, extra = row(name, block)
        uuid = stand_in_id(id_prefix, bus_id, index)
        readings.append(reading(vendor, len(readings), model, uuid, metrics, bus_id=bus_id, **info, **extra))
    return readings


def word(cell: str, position: int) -> float | None:
    """The number in the ``position``-th whitespace-separated word of a cell, if there is one."""
    words = cell.split()
    return number(words[position]) if len(words) > position else None


def memory(cell: str) -> dict[str, float | None]:
    """``memory_used_bytes`` and ``memory_total_bytes`` from a "used / total" cell."""
    pair = used_total(cell)
    return {"memory_used_bytes": pair[0] if pair else None, "memory_total_bytes": pair[1] if pair else None}


def search(pattern: re.Pattern[str], text: str) -> str | None:
    """The first group of ``pattern`` in ``text`` (a version in a title row), or None."""
    m = pattern.search(text)
    return m.group(1) if m else None


_TEMP_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*[Cc]\b")
_FAN_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*%")
_POWER_RE = re.compile(r"(\S+?)\s*W?\s*/\s*(\S+?)\s*W?\s*$")


def status_cell(cell: str) -> dict[str, float | None]:
    """Fan %, temperature °C and power used / cap W from a "Fan Temp Perf Pwr:Usage/Cap" cell.

    The cell reads like ``0%   33C   P0    N/A / N/A`` or ``N/A   37C  N/A     88W / 400W``;
    a part printed as ``N/A`` is None.
    """
    temp = _TEMP_RE.search(cell)
    fan = _FAN_RE.match(cell.strip())
    power = _POWER_RE.search(cell)
    return {
        "fan_speed_percent": float(fan.group(1)) if fan else None,
        "temperature_c": float(temp.group(1)) if temp else None,
        "power_w": number(power.group(1)) if power else None,
        "power_limit_w": number(power.group(2)) if power else None,
    }


# -- the base collector ------------------------------------------------------------------------


class ToolCollector:
    """A backend read through one vendor program; subclasses set the class attributes and ``parse``.

    ``commands()`` are the argv lists of one round (fixed, read-only queries); ``parse``
    turns their outputs, keyed by position, into readings. ``tool`` is the program (a
    name looked up on the PATH, or a full path, given as the ``<name>_tool`` option),
    ``runner`` replaces :class:`ToolRunner`.
    """

    name = ""
    options: tuple[Option, ...] = ()
    vendor = ""
    default_tool = ""
    option = ""  # the create() option that names the program; default "<name>_tool"
    args: tuple[str, ...] = ()  # the one command of a round is [tool, *args]

    def __init__(
        self,
        runner: Runner | None = None,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 10.0,
        **options: Any,
    ) -> None:
        self.tool = str(options.get(self.option or f"{self.name}_tool") or self.default_tool)
        self._runner: Runner = runner or ToolRunner(timeout_s=timeout_s)
        self._injected = runner is not None
        self._clock = clock
        self.unavailable_reason: str | None = None

    def commands(self) -> list[list[str]]:
        return [[self.tool, *self.args]]

    def parse(self, outputs: Sequence[str]) -> list[DeviceReading]:
        raise NotImplementedError(f"{type(self).__name__} must read its outputs")

    def _located(self) -> bool:
        if self._injected or shutil.which(self.tool) is not None:
            return True
        self.unavailable_reason = f"{self.tool}: not found (is the {self.vendor} driver package installed?)"
        return False

    def available(self) -> bool:
        self.unavailable_reason = None
        if not self._located():
            return False
        try:
            return bool(self.read())
        except ToolError as exc:
            self.unavailable_reason = str(exc)
        except Exception as exc:  # a parser surprised by the output: unavailable, never a crash
            self.unavailable_reason = f"{self.tool}: unreadable output ({type(exc).__name__}: {exc})"
        return False

    def read(self) -> list[DeviceReading]:
        outputs = [self._runner(argv) for argv in self.commands()]
        readings = self.parse(outputs)
        if not readings:
            shown = next((o.strip().splitlines()[0][:120] for o in outputs if o.strip()), "")
            raise ToolGarbage(f"{self.tool}: no device in its output (first line: {shown!r})")
        return readings

    def collect(self) -> Snapshot:
        now = self._clock()
        return Snapshot(collector=self.name, time=now, devices=self.read())

    def close(self) -> None:
        return None


def tool_backend(
    name: str,
    tool: str,
    parser: Callable[[str], list[DeviceReading]],
    *args: str,
    option: str = "",
    options: tuple[Option, ...] = (),
) -> type[ToolCollector]:
    """Define the backend ``name``: one round runs ``[tool, *args]``, ``parser`` reads it.

    Most vendor tools need nothing more, so a vendor module is its parser plus this one line
    (and the backend one line in :mod:`fleetproof.agent.collectors.registry`). ``options`` are
    the settings it reads, as for any collector.
    """

    class OneCommand(ToolCollector):
        def parse(self, outputs: Sequence[str]) -> list[DeviceReading]:
            return parser(outputs[0])

    OneCommand.name = OneCommand.vendor = name
    OneCommand.default_tool, OneCommand.args, OneCommand.option = tool, args, option
    OneCommand.options = options
    OneCommand.__name__ = OneCommand.__qualname__ = f"{name.capitalize()}Collector"
    return OneCommand


def reading(
    vendor: str,
    index: int,
    model: str,
    uuid: str,
    metrics: Mapping[str, float | None],
    **info: Any,
) -> DeviceReading:
    """A reading with the metrics that were read (None values dropped: "no data" is not a failure)."""
    kept = {k: float(v) for k, v in metrics.items() if v is not None}
    if info.get("memory_total_bytes") is None and "memory_total_bytes" in kept:
        info["memory_total_bytes"] = int(kept["memory_total_bytes"])
    return DeviceReading(
        info=DeviceInfo(index=index, vendor=vendor, model=model, uuid=uuid, **info), metrics=kept
    )


def stand_in_id(prefix: str, bus_id: str | None, tool_index: str) -> str:
    """An id for a device whose tool shows no UUID: its bus id, else the tool's index (less stable)."""
    return f"{prefix}-{bus_id}" if bus_id else f"{prefix}-index{tool_index}"
