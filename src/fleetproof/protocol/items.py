"""The ingest envelope: the outbox items an agent posts to ``/api/v1/ingest``.

The agent's outbox stores items of these kinds and the server validates them with
these models, so the list of kinds and the envelope live here, once. A body is
``{"items": [{"id", "kind", "created_at", "payload"}, …]}``; each ``payload`` is the
JSON form of the kind's model in :data:`PAYLOAD_MODELS` (:mod:`fleetproof.protocol.wire`),
except ``probe_record``, a landmark-signed measurement record checked by the server
against its registered landmarks.

To add a kind: name it in :data:`~fleetproof.protocol.kinds.ItemKind`, give it a typed item class in
:class:`TypedBatch` (and a payload model in :data:`PAYLOAD_MODELS`), then store it in
``fleetproof.server.ingest``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fleetproof.protocol.kinds import ITEM_KINDS, ItemKind
from fleetproof.protocol.wire import HealthEvent, InventoryReport, TelemetryReport

__all__ = [
    "ITEM_KINDS",
    "MAX_ITEMS",
    "PAYLOAD_MODELS",
    "IngestBatch",
    "IngestItem",
    "ItemKind",
    "TypedBatch",
    "parse_batch",
]

# Items per request: a bound on the work one body can ask for (the agent sends far fewer).
MAX_ITEMS = 100_000

# The payload model of each kind that has one (``probe_record`` is checked by the server instead).
PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "telemetry": TelemetryReport,
    "inventory": InventoryReport,
    "health": HealthEvent,
}


class IngestItem(BaseModel):
    """The JSON form of one outbox item."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128)
    kind: ItemKind
    created_at: float
    payload: dict[str, Any]


class IngestBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[IngestItem] = Field(max_length=MAX_ITEMS)


class _Typed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128)
    created_at: float


class _TelemetryItem(_Typed):
    kind: Literal["telemetry"]
    payload: TelemetryReport


class _InventoryItem(_Typed):
    kind: Literal["inventory"]
    payload: InventoryReport


class _HealthItem(_Typed):
    kind: Literal["health"]
    payload: HealthEvent


class _RecordItem(_Typed):
    kind: Literal["probe_record"]
    payload: dict[str, Any]


class TypedBatch(BaseModel):
    """:class:`IngestBatch` with every payload validated into its model in the same pass."""

    model_config = ConfigDict(extra="forbid")
    items: list[
        Annotated[_TelemetryItem | _InventoryItem | _HealthItem | _RecordItem, Field(discriminator="kind")]
    ] = Field(max_length=MAX_ITEMS)


def parse_batch(raw: bytes) -> list[Any]:
    """The items of a request body; ``ValidationError`` when the envelope itself is malformed.

    Fast path: every payload is validated into its wire model in the same pass over the
    JSON (no intermediate dicts). When any item is bad, the body is parsed again with
    plain payloads, so that the good items are kept and the bad ones rejected one by one.
    """
    try:
        return list(TypedBatch.model_validate_json(raw).items)
    except ValidationError:
        return list(IngestBatch.model_validate_json(raw).items)
