"""Where NVIDIA Xid lines come from besides NVML: the kernel ring buffer, the journal, a log file.

The driver logs every Xid as a kernel message (``NVRM: Xid (PCI:0000:18:00): 79, ...``); NVML's
event set only delivers the ones it classes as critical, and only while the agent runs. The
kernel log has them all. Three sources, chosen by the ``kernel_log_path`` setting:

* ``kmsg`` — ``/dev/kmsg``, the kernel's own record stream (one record per read; needs
  ``CAP_SYSLOG`` where ``kernel.dmesg_restrict`` is on, as on Debian);
* ``journal`` — the systemd journal's kernel messages, through the ``systemd`` Python
  bindings where they are installed (Debian's ``python3-systemd``; membership of the
  ``systemd-journal`` group is enough to read it);
* a path — a text log such as ``/var/log/kern.log``, read from where the previous round
  stopped, rotation and truncation followed;
* ``auto`` — ``kmsg`` if it opens, else ``journal`` if it is there, else nothing.

Every source starts at "now": an Xid logged before the agent started is history, not news
(the missing device or the ECC counters say what state the GPU is in). Each source's reading
primitive is injectable, so tests feed recorded lines and records instead of the host's.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "KERNEL_LOG_CHUNK",
    "FileSource",
    "JournalSource",
    "KernelLogSource",
    "KmsgSource",
    "open_kernel_log",
    "parse_kernel_xid",
    "parse_kmsg_record",
]

log = logging.getLogger("fleetproof.agent")

#: Most bytes of a log file read per round.
KERNEL_LOG_CHUNK = 1 << 20
#: Most records taken from /dev/kmsg or the journal per round.
MAX_RECORDS = 10_000

_XID_RE = re.compile(r"NVRM: Xid \(PCI:(?P<bus>[0-9A-Fa-f:.]+)\): (?P<code>\d+),?\s*(?P<msg>.*)$")
_KMSG_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def parse_kernel_xid(line: str) -> tuple[str, int, str] | None:
    """``(bus_id, xid, message)`` from one kernel log line, or None when it is not an Xid line.

    >>> parse_kernel_xid("NVRM: Xid (PCI:0000:18:00): 79, pid=1234, GPU has fallen off the bus.")
    ('0000:18:00', 79, 'pid=1234, GPU has fallen off the bus.')
    """
    m = _XID_RE.search(line.rstrip("\n"))
    if not m:
        return None
    return m["bus"].upper(), int(m["code"]), m["msg"].strip()


def parse_kmsg_record(record: bytes) -> str:
    r"""The message text of one ``/dev/kmsg`` record (``PRIO,SEQ,USEC,FLAGS[,...];TEXT`` and
    optional `` KEY=VALUE`` continuation lines); the kernel writes unprintable bytes as ``\xNN``.

    >>> parse_kmsg_record(b"4,1203,1209331552027,-;NVRM: Xid (PCI:0000:2a:00): 79, off\n SUBSYSTEM=pci\n")
    'NVRM: Xid (PCI:0000:2a:00): 79, off'
    """
    _, sep, rest = record.partition(b";")
    if not sep:
        return ""
    text = rest.split(b"\n", 1)[0]
    text = _KMSG_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), text)
    return text.decode("utf-8", "replace")


class KernelLogSource(Protocol):
    name: str

    def lines(self) -> list[str]:
        """Kernel message lines logged since the previous call."""
        ...

    def close(self) -> None: ...


class FileSource:
    """A text log file, read incrementally: whole lines only, rotation and truncation followed."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset: int | None = None
        self._inode = 0

    def lines(self) -> list[str]:
        try:
            st = self.path.stat()
            if self._offset is None:
                self._offset, self._inode = st.st_size, st.st_ino  # from now on
            elif st.st_ino != self._inode or st.st_size < self._offset:
                self._offset, self._inode = 0, st.st_ino  # rotated or truncated
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read(KERNEL_LOG_CHUNK)
        except OSError:
            return []
        # Only whole lines: a line still being written, or cut by the chunk, waits for the next
        # round ("Xid ...: 7" and "9, ..." would otherwise read as Xid 7). A line longer than a
        # whole chunk is no Xid line and is skipped.
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) == KERNEL_LOG_CHUNK:
            end = len(data)
        self._offset += end
        return data[:end].decode("utf-8", "replace").splitlines()

    def close(self) -> None:
        return None


class KmsgSource:
    """``/dev/kmsg``: one record per read, non-blocking; records overwritten before we read them
    (``EPIPE``) are skipped, not fatal.

    ``read`` (``fd -> bytes``, raising ``BlockingIOError`` when nothing is pending) and ``open_fd``
    are injectable for tests.
    """

    name = "kmsg"

    def __init__(
        self,
        path: str = "/dev/kmsg",
        open_fd: Callable[[str], int] | None = None,
        read: Callable[[int], bytes] | None = None,
        close_fd: Callable[[int], None] = os.close,
    ) -> None:
        self.path = path
        self._read = read or (lambda fd: os.read(fd, 8192))
        self._close_fd = close_fd
        self._fd: int | None = (open_fd or _open_kmsg)(path)

    def lines(self) -> list[str]:
        if self._fd is None:
            return []
        out: list[str] = []
        for _ in range(MAX_RECORDS):
            try:
                record = self._read(self._fd)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # the ring buffer wrapped past us: go on with the next record
                log.warning("kernel log %s: %s; no longer read", self.path, exc)
                self.close()
                break
            if not record:
                break
            text = parse_kmsg_record(record)
            if text:
                out.append(text)
        return out

    def close(self) -> None:
        if self._fd is not None:
            try:
                self._close_fd(self._fd)
            finally:
                self._fd = None


def _open_kmsg(path: str) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.lseek(fd, 0, os.SEEK_END)  # from now on
    except OSError:
        os.close(fd)
        raise
    return fd


class JournalSource:
    """The systemd journal's kernel messages (``_TRANSPORT=kernel``) through ``systemd.journal``.

    ``reader`` is a ``systemd.journal.Reader``-like object (tests pass one holding recorded
    entries): ``add_match``, ``seek_tail``, ``get_previous`` and iteration yielding dicts with
    ``MESSAGE``.
    """

    name = "journal"

    def __init__(self, reader: Any = None) -> None:
        if reader is None:
            from systemd import journal  # Debian's python3-systemd; absent: this source is not used

            reader = journal.Reader()
        self._reader = reader
        self._reader.add_match(_TRANSPORT="kernel")
        self._reader.seek_tail()
        self._reader.get_previous()  # position on the last entry: the next one read is new

    def lines(self) -> list[str]:
        out: list[str] = []
        for entry in _take(self._reader, MAX_RECORDS):
            message = entry.get("MESSAGE")
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            if message:
                out.append(str(message))
        return out

    def close(self) -> None:
        close = getattr(self._reader, "close", None)
        if callable(close):
            close()


def _take(entries: Iterable[Any], limit: int) -> list[Any]:
    out = []
    for entry in entries:
        out.append(entry)
        if len(out) >= limit:
            break
    return out


def open_kernel_log(spec: str | None) -> KernelLogSource | None:
    """The source ``spec`` names (``kmsg``, ``journal``, ``auto``, or a file path), or None.

    ``kmsg`` or ``journal`` that cannot be opened is logged once and read as nothing, so a host
    without them still runs; ``auto`` tries them in that order without a warning.
    """
    if not spec:
        return None
    if spec not in ("kmsg", "journal", "auto"):
        return FileSource(spec)
    for kind in ("kmsg", "journal") if spec == "auto" else (spec,):
        try:
            return KmsgSource() if kind == "kmsg" else JournalSource()
        except (OSError, ImportError) as exc:
            if spec != "auto":
                log.warning("kernel log %s cannot be read (%s); Xids come from NVML only", kind, exc)
    return None
