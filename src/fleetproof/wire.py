"""Old home of the item payload models, now :mod:`fleetproof.protocol.wire`.

Kept only while modules of ``fleetproof.agent`` still import from here; it goes once they
import :mod:`fleetproof.protocol.wire` (nothing else in the tree uses this name).
"""

from fleetproof.protocol import wire as _moved
from fleetproof.protocol.wire import *  # noqa: F403

__all__ = list(_moved.__all__)
