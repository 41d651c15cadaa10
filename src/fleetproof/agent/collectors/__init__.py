"""Collectors: one per backend (NVIDIA, AMD, Intel Gaudi and Data Center GPU Max, Huawei Ascend,
Cambricon, Hygon, Moore Threads, Kunlunxin, Iluvatar, MetaX, Enflame, the host, simulated)."""

from fleetproof.agent.collectors.base import (
    Collector,
    DeviceInfo,
    DeviceReading,
    Snapshot,
    XidEvent,
    create,
    register,
    registered,
)

__all__ = [
    "Collector",
    "DeviceInfo",
    "DeviceReading",
    "Snapshot",
    "XidEvent",
    "create",
    "register",
    "registered",
]
