"""Output that is never half-written, and a progress bar that stays out of the way.

Files are written to a temporary file in the destination's folder and renamed
into place only when complete, so a crash or an error leaves either the old
file or nothing — never a truncated one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TextIO

from fleetproof.errors import ConfigError
from fleetproof.files import atomic_open

__all__ = ["Progress", "atomic_writer", "write_json", "write_jsonl", "write_text"]


@contextmanager
def atomic_writer(path: Path) -> Iterator[IO[str]]:
    """:func:`fleetproof.files.atomic_open` for text, making the folder first if needed.

    A folder that cannot be made or written to is the user's error, said as such.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    with atomic_open(path) as fh:
        yield fh


def write_jsonl(path: Path, docs: Iterable[dict[str, Any]]) -> int:
    """One compact JSON object per line; returns the number written."""
    n = 0
    with atomic_writer(path) as fh:
        dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        buf: list[str] = []
        for doc in docs:
            buf.append(dumps(doc))
            n += 1
            if len(buf) >= 4096:
                fh.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            fh.write("\n".join(buf) + "\n")
    return n


def write_text(path: Path, parts: Iterable[str]) -> None:
    """Text made elsewhere (e.g. JSON lines encoded by worker processes), written atomically."""
    with atomic_writer(path) as fh:
        for part in parts:
            fh.write(part)


def write_json(path: Path, doc: Any) -> None:
    with atomic_writer(path) as fh:
        json.dump(doc, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


class Progress:
    """A one-line progress bar on a terminal stream, redrawn at most ``hz`` times a second.

    Nothing is drawn when the stream is not a terminal (unless ``force``) or when
    the whole job finishes before ``delay_s``, so short runs and logs stay clean.
    """

    def __init__(
        self,
        total: int,
        stream: TextIO,
        label: str = "verify",
        force: bool = False,
        clock: Callable[[], float] = time.monotonic,
        delay_s: float = 0.5,
        hz: float = 10.0,
    ) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.label = label
        self.clock = clock
        self.start = clock()
        self.delay_s = delay_s
        self.period = 1.0 / hz
        self.last = -1e9
        self.enabled = force or bool(getattr(stream, "isatty", lambda: False)())
        self.drawn = False

    def advance(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if not self.enabled or now - self.start < self.delay_s:
            return
        if now - self.last >= self.period or self.done >= self.total:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0)
        width = 30
        bar = "#" * int(frac * width)
        rate = self.done / max(now - self.start, 1e-9)
        self.stream.write(
            f"\r{self.label} [{bar:<{width}}] {self.done:,}/{self.total:,} targets {frac:4.0%} {rate:,.0f}/s"
        )
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
