"""Versioned wire formats shared by the agent and the server.

The agent builds these, its outbox stores them as JSON, and the server's ingest
validates them with the same models, so both sides agree by construction.
Every number carries its unit in its name (``temperature_c``, ``power_w``).
Field ``version`` lets the server accept older agents while the format grows.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetproof.protocol.health import HealthState

__all__ = [
    "WIRE_VERSION",
    "AcceleratorInventory",
    "AcceleratorSample",
    "HealthEvent",
    "HealthState",
    "HostInventory",
    "InventoryReport",
    "TelemetryReport",
]

WIRE_VERSION: Literal[1] = 1


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AcceleratorInventory(_Wire):
    """What an accelerator *is*; a change of any field is an inventory event."""

    index: int = Field(ge=0)
    vendor: str = Field(min_length=1, max_length=32)
    model: str = Field(max_length=128)
    uuid: str = Field(min_length=1, max_length=128)
    serial: str | None = Field(default=None, max_length=128)
    bus_id: str | None = Field(default=None, max_length=64)
    driver_version: str | None = Field(default=None, max_length=64)
    firmware_version: str | None = Field(default=None, max_length=128)
    memory_total_bytes: int | None = Field(default=None, ge=0)


class HostInventory(_Wire):
    hostname: str = Field(min_length=1, max_length=255)
    os: str | None = Field(default=None, max_length=255)
    kernel: str | None = Field(default=None, max_length=255)
    cpu_model: str | None = Field(default=None, max_length=255)
    cpu_count: int | None = Field(default=None, ge=0)
    memory_total_bytes: int | None = Field(default=None, ge=0)


class InventoryReport(_Wire):
    version: Literal[1] = WIRE_VERSION
    time: float = Field(description="Unix time, seconds")
    host: HostInventory
    accelerators: list[AcceleratorInventory] = Field(max_length=256)


class AcceleratorSample(_Wire):
    """One accelerator's metrics at one instant: metric name (with unit) -> value."""

    uuid: str = Field(min_length=1, max_length=128)
    index: int = Field(ge=0)
    vendor: str = Field(min_length=1, max_length=32)
    model: str = Field(max_length=128)
    metrics: dict[str, float] = Field(max_length=256)


class TelemetryReport(_Wire):
    version: Literal[1] = WIRE_VERSION
    time: float = Field(description="Unix time, seconds")
    hostname: str = Field(min_length=1, max_length=255)
    accelerators: list[AcceleratorSample] = Field(max_length=256)
    host_metrics: dict[str, float] = Field(default_factory=dict, max_length=256)


class HealthEvent(_Wire):
    """A health component's judgement: what, why, and what to do."""

    version: Literal[1] = WIRE_VERSION
    time: float = Field(description="Unix time, seconds")
    component: str = Field(min_length=1, max_length=64)
    state: HealthState
    reason: str = Field(max_length=2000)
    suggested_action: str | None = Field(default=None, max_length=500)
    device_uuid: str | None = Field(default=None, max_length=128)
