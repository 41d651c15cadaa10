"""Collectors: one per backend (NVIDIA, AMD, Intel Gaudi, Huawei Ascend, the host, simulated)."""

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
