"""What the agent's outbox hands to whatever delivers it (the server client, or a test double).

The outbox is durable and at-least-once: it keeps an item until a transport has
accepted it, and may offer the same item again after a crash. Each item has a
stable ``id`` so that the receiver can drop duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ItemKind", "OutboxItem", "Transport", "TransportError"]

from fleetproof.protocol.kinds import ItemKind


@dataclass(frozen=True)
class OutboxItem:
    """One unit of delivery.

    ``payload`` is the JSON form of a :mod:`fleetproof.protocol.wire` model, as the agent
    builds it with :mod:`fleetproof.protocol.wire_plain`
    (``TelemetryReport``, ``InventoryReport``, ``HealthEvent``) or of a signed
    measurement record (``probe_record``).
    """

    id: str
    kind: ItemKind
    created_at: float
    payload: dict[str, Any]


class TransportError(Exception):
    """Delivery failed for now; the outbox keeps the items and retries with backoff.

    ``retryable`` is False when the receiver rejected the items for good (a 4xx
    for a malformed body, say): the outbox then sets them aside instead of
    retrying forever.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Transport(Protocol):
    def send(self, items: Sequence[OutboxItem]) -> None:
        """Deliver every item or raise :class:`TransportError`; returning means all were accepted."""
        ...
