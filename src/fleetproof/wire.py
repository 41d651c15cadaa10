"""Old home of the item payload models, now :mod:`fleetproof.protocol.wire`.

Kept only while modules of ``fleetproof.agent`` still import from here; it goes once they
import :mod:`fleetproof.protocol.wire` (nothing else in the tree uses this name).
"""

from fleetproof.protocol.wire import (
    WIRE_VERSION,
    AcceleratorInventory,
    AcceleratorSample,
    HealthEvent,
    HealthState,
    HostInventory,
    InventoryReport,
    TelemetryReport,
)

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
