"""``HOST:PORT`` as people write it: one parser for every listen and landmark address.

Pure (no I/O, no imports from the rest of fleetproof), so the probe, the agent and the server
can all use it. The host may be an IPv6 address in brackets (``[::1]:9410``); an empty host
means the loopback address. What differs between callers is only whether port 0 ("any free
port", for a socket the caller binds) makes sense, and whether the host may be left out.
"""

from __future__ import annotations

__all__ = ["AddressError", "parse_host_port"]


class AddressError(ValueError):
    """Not a usable ``HOST:PORT``; the message quotes the text and says what is wrong."""


def parse_host_port(
    text: str, *, any_port: bool = False, need_host: bool = False, default_host: str = "127.0.0.1"
) -> tuple[str, int]:
    """``"127.0.0.1:9410"`` -> ``("127.0.0.1", 9410)``; ``"[::1]:9410"`` -> ``("::1", 9410)``.

    ``any_port`` admits port 0, which asks the system for a free port when binding; an address
    others connect to never has it. ``need_host`` refuses ``":9410"``, which otherwise means
    ``default_host``.
    """
    host, sep, port = text.rpartition(":")
    if not sep or (need_host and not host):
        raise AddressError(f"{text!r} is not HOST:PORT")
    lowest = 0 if any_port else 1
    if not port.isdigit() or not lowest <= int(port) <= 65535:
        raise AddressError(f"{text!r} has no valid port ({lowest}-65535)")
    return host.strip("[]") or default_host, int(port)
