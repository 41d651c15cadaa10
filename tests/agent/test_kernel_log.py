"""Xid lines from /dev/kmsg and the journal (recorded records fed through the injectable readers)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from fleetproof.agent.collectors.kernel_log import (
    FileSource,
    JournalSource,
    KmsgSource,
    open_kernel_log,
    parse_kernel_xid,
)
from fleetproof.agent.collectors.nvidia import NvidiaCollector


def _records(fixtures_dir: Path) -> list[bytes]:
    data = json.loads((fixtures_dir / "nvidia" / "kmsg_xid.json").read_text(encoding="utf-8"))
    return [r.encode() for r in data["records"]]


class _Kmsg:
    """A /dev/kmsg stand-in: one record per read, EAGAIN when drained, EPIPE where the ring wrapped."""

    def __init__(self, records: list[bytes]) -> None:
        self.pending: list[bytes | OSError] = list(records)
        self.closed = False

    def read(self, fd: int) -> bytes:
        assert fd == 7 and not self.closed
        if not self.pending:
            raise BlockingIOError(errno.EAGAIN, "no record")
        item = self.pending.pop(0)
        if isinstance(item, OSError):
            raise item
        return item

    def source(self) -> KmsgSource:
        return KmsgSource(
            open_fd=lambda path: 7, read=self.read, close_fd=lambda fd: setattr(self, "closed", True)
        )


def test_kmsg_records_give_the_xid_lines(fixtures_dir: Path) -> None:
    fake = _Kmsg(_records(fixtures_dir))
    src = fake.source()
    xids = [p for p in map(parse_kernel_xid, src.lines()) if p]
    assert [(bus, code) for bus, code, _ in xids] == [
        ("0000:2A:00", 79),
        ("0000:18:00", 13),
        ("0000:18:00", 154),
        ("0000:18:00", 94),
    ]
    assert "Node Reboot Required" in xids[2][2]
    assert src.lines() == []  # drained: EAGAIN ends the round, nothing is read twice
    src.close()
    assert fake.closed


def test_kmsg_skips_records_lost_to_a_wrapped_ring(fixtures_dir: Path) -> None:
    records = _records(fixtures_dir)
    fake = _Kmsg([])
    fake.pending = [OSError(errno.EPIPE, "Broken pipe"), records[1]]
    lines = fake.source().lines()
    assert len(lines) == 1 and parse_kernel_xid(lines[0]) is not None


def test_kmsg_that_fails_otherwise_stops_being_read(fixtures_dir: Path) -> None:
    fake = _Kmsg([])
    fake.pending = [OSError(errno.EIO, "I/O error")]
    src = fake.source()
    assert src.lines() == [] and fake.closed
    assert src.lines() == []


class _Journal:
    """A systemd.journal.Reader stand-in over recorded entries; honours the _TRANSPORT match."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.matches: dict[str, str] = {}
        self.pos = 0

    def add_match(self, **kw: str) -> None:
        self.matches.update(kw)

    def seek_tail(self) -> None:
        self.pos = len(self.entries)

    def get_previous(self) -> dict[str, Any]:
        return {}

    def __iter__(self) -> Any:
        while self.pos < len(self.entries):
            entry = self.entries[self.pos]
            self.pos += 1
            if all(entry.get(k) == v for k, v in self.matches.items()):
                yield entry


def test_journal_kernel_messages_from_now_on(fixtures_dir: Path) -> None:
    data = json.loads((fixtures_dir / "nvidia" / "journal_kernel.json").read_text(encoding="utf-8"))
    old = {"_TRANSPORT": "kernel", "MESSAGE": "NVRM: Xid (PCI:0000:18:00): 79, before the agent started"}
    reader = _Journal([old])
    src = JournalSource(reader)
    assert src.lines() == []  # what was logged before the start is history
    reader.entries += data["entries"]
    codes = [p[1] for p in map(parse_kernel_xid, src.lines()) if p]
    assert codes == [48, 63]  # the line a script printed to stdout is not a kernel message


def test_file_source_starts_at_the_end(tmp_path: Path) -> None:
    log = tmp_path / "kern.log"
    log.write_text("NVRM: Xid (PCI:0000:18:00): 79, old\n")
    src = FileSource(log)
    assert src.lines() == []
    with log.open("a") as fh:
        fh.write("NVRM: Xid (PCI:0000:18:00): 48, new\n")
    assert [parse_kernel_xid(x)[1] for x in src.lines()] == [48]  # type: ignore[index]


def test_open_kernel_log_choices(tmp_path: Path) -> None:
    assert open_kernel_log("") is None and open_kernel_log(None) is None
    assert isinstance(open_kernel_log(str(tmp_path / "kern.log")), FileSource)
    # /dev/kmsg may or may not open here; "auto" never raises and gives kmsg, the journal or nothing.
    src = open_kernel_log("auto")
    assert src is None or src.name in {"kmsg", "journal"}
    if src is not None:
        src.close()


@pytest.mark.skipif(not os.path.exists("/dev/kmsg"), reason="no /dev/kmsg on this host")
def test_real_kmsg_opens_at_its_end_or_is_refused() -> None:
    try:
        src = KmsgSource()
    except PermissionError:
        pytest.skip("reading /dev/kmsg needs CAP_SYSLOG here (kernel.dmesg_restrict)")
    try:
        lines = src.lines()  # only what was logged since it opened: normally nothing
        assert all(isinstance(line, str) for line in lines)
    finally:
        src.close()


def test_nvidia_collector_takes_xids_from_kmsg(fake_nvml: Any, fixtures_dir: Path) -> None:
    fake = _Kmsg([])
    collector = NvidiaCollector(nvml=fake_nvml, kernel_log=fake.source())
    collector.collect()  # learns the bus ids
    fake.pending = _records(fixtures_dir)
    snap = collector.collect()
    by_index = {d.info.index: [e.code for e in d.xid_events] for d in snap.devices}
    assert by_index == {0: [13, 154, 94], 1: [79]}
    collector.close()
    assert fake.closed
