"""The baseline of the ingest benchmark: a bare ASGI app that reads the body and answers 200.

Run by ``server_ingest.py`` under the same uvicorn, so that the ratio of the two
throughputs says what fleetproof's validation, authentication and storage cost on
top of HTTP on loopback.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"accepted":0,"duplicates":0,"rejected":[]}'
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
