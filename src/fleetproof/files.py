"""Files that are never half-written: write beside the target, then rename over it.

A reader (or a crash) sees either the old file or the complete new one. Every
part writes its outputs through :func:`atomic_open`, so a folder that cannot be
written to is reported the same way everywhere: as a user error naming the path.
Reading an input file goes through :func:`read_input_text` for the same reason:
a missing or undecodable file is a user error naming it, never a traceback.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from fleetproof.errors import ConfigError, InputError

__all__ = ["atomic_open", "read_input_text"]


@contextmanager
def atomic_open(
    path: str | Path, *, binary: bool = False, mode: int | None = None, fsync: bool = False
) -> Iterator[IO[Any]]:
    """Open a temporary file in ``path``'s folder; rename it over ``path`` only if the block succeeds.

    ``mode`` sets the file's permissions (the default is the temporary file's 0600); ``fsync``
    flushes the data to disk before the rename, for state that must survive a power cut.
    """
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_input_text(path: Path, encoding: str = "utf-8") -> str:
    """The whole text of the user's input file ``path``; an :class:`InputError` naming it when unreadable."""
    try:
        return path.read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), None, f"cannot read: {exc}") from None
