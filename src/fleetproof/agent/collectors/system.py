"""The host itself, through psutil: CPU, memory, load and disk use of chosen paths.

Disk use is keyed ``disk_used_percent[PATH]``; the Prometheus exporter turns the
bracket into a ``mountpoint`` label.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from fleetproof.agent.collectors.base import Snapshot
from fleetproof.agent.setting import Option, Setting, comma_list

__all__ = ["SystemCollector", "host_inventory"]


class SystemCollector:
    name = "system"
    options = (
        Option(
            Setting("disk_paths", "/", "Comma-separated paths whose disk use is watched."),
            "disk_paths",
            comma_list,
        ),
    )

    def __init__(
        self,
        disk_paths: Sequence[str] = ("/",),
        psutil_module: Any = None,
        clock: Callable[[], float] = time.time,
        **_: object,
    ) -> None:
        if psutil_module is None:
            import psutil

            psutil_module = psutil
        self._ps = psutil_module
        self._paths = list(disk_paths)
        self._clock = clock
        self._ps.cpu_percent(interval=None)  # primes the CPU counter: the first real read is a delta

    def available(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def collect(self) -> Snapshot:
        ps = self._ps
        vm = ps.virtual_memory()
        metrics = {
            "cpu_utilization_percent": float(ps.cpu_percent(interval=None)),
            "memory_total_bytes": float(vm.total),
            "memory_available_bytes": float(vm.available),
            "memory_used_percent": float(vm.percent),
        }
        with contextlib.suppress(OSError):
            metrics["load1"] = float(os.getloadavg()[0])
        for path in self._paths:
            try:
                usage = ps.disk_usage(path)
            except OSError:
                continue
            metrics[f"disk_used_percent[{path}]"] = float(usage.percent)
            metrics[f"disk_free_bytes[{path}]"] = float(usage.free)
        return Snapshot(collector=self.name, time=self._clock(), host_metrics=metrics)


def host_inventory(hostname: str) -> dict[str, Any]:
    """Fields of :class:`fleetproof.protocol.wire.HostInventory` for this host."""
    import platform

    import psutil

    cpu_model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu_model = platform.processor() or None
    os_name = None
    try:
        with open("/etc/os-release", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        os_name = platform.system()
    return {
        "hostname": hostname,
        "os": os_name,
        "kernel": platform.release(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "memory_total_bytes": int(psutil.virtual_memory().total),
    }
