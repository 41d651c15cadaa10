"""The kinds of outbox item, apart from the ingest models so that the agent can name them.

:mod:`fleetproof.protocol.items` validates items of these kinds with pydantic on the server;
the agent's outbox only stores and sends them, and does not load pydantic (see
:mod:`fleetproof.protocol.wire_plain`).
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["ITEM_KINDS", "ItemKind"]

ItemKind = Literal["telemetry", "inventory", "health", "probe_record"]
ITEM_KINDS: tuple[ItemKind, ...] = get_args(ItemKind)
