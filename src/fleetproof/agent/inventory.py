"""Inventory: what is in the host, and what changed since last time.

The last inventory is kept in the state directory (written to a temporary file,
then renamed), so a device that vanished while the agent was stopped is still
noticed at the next start. Changes are events: a device added, removed, swapped
(same index, another UUID) or changed in place (a driver or firmware update).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from fleetproof.agent.collectors.base import DeviceInfo
from fleetproof.files import atomic_open

__all__ = ["InventoryChange", "diff_inventory", "load_inventory", "save_inventory"]


@dataclass(frozen=True)
class InventoryChange:
    kind: str  # "added" | "removed" | "swapped" | "changed"
    index: int
    uuid: str
    old_uuid: str | None = None
    detail: str = ""

    def describe(self) -> str:
        if self.kind == "swapped":
            return f"device {self.index} swapped: {self.old_uuid} -> {self.uuid}"
        if self.kind == "changed":
            return f"device {self.index} ({self.uuid}) changed: {self.detail}"
        return f"device {self.index} ({self.uuid}) {self.kind}"


def diff_inventory(old: list[DeviceInfo], new: list[DeviceInfo]) -> list[InventoryChange]:
    """The changes that turn ``old`` into ``new``; matching is by UUID, then by index for swaps."""
    old_by_uuid = {d.uuid: d for d in old}
    new_by_uuid = {d.uuid: d for d in new}
    changes: list[InventoryChange] = []
    gone = [d for d in old if d.uuid not in new_by_uuid]
    came = [d for d in new if d.uuid not in old_by_uuid]
    came_by_index = {(d.vendor, d.index): d for d in came}
    swapped_in: set[str] = set()
    for d in gone:
        repl = came_by_index.get((d.vendor, d.index))
        if repl is not None:
            changes.append(InventoryChange("swapped", d.index, repl.uuid, old_uuid=d.uuid))
            swapped_in.add(repl.uuid)
        else:
            changes.append(InventoryChange("removed", d.index, d.uuid))
    changes += [InventoryChange("added", d.index, d.uuid) for d in came if d.uuid not in swapped_in]
    for uuid, d in new_by_uuid.items():
        before = old_by_uuid.get(uuid)
        if before is None or before == d:
            continue
        diffs = [
            f"{f.name} {getattr(before, f.name)!r} -> {getattr(d, f.name)!r}"
            for f in fields(DeviceInfo)
            if getattr(before, f.name) != getattr(d, f.name)
        ]
        changes.append(InventoryChange("changed", d.index, uuid, detail=", ".join(diffs)))
    return sorted(changes, key=lambda c: (c.index, c.kind))


def save_inventory(path: Path, devices: list[DeviceInfo]) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, fsync=True) as fh:
        json.dump([asdict(d) for d in devices], fh, indent=1)


def load_inventory(path: Path) -> list[DeviceInfo]:
    """The saved inventory, or an empty one when there is none or it cannot be read."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [DeviceInfo(**item) for item in raw]
    except (OSError, ValueError, TypeError):
        return []
