"""Baseline: a raw ASGI app on Granian that answers every request with one constant 302.

It is served exactly as control.servers.serve_edge serves the edge (same Granian
options, one worker) and sends the edge's redirect headers, so the difference
between the two is the edge's own work per click.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from granian import Granian
from granian.constants import Interfaces, Loops

from edge.responses import EMPTY_BODY, REDIRECT_HEADERS

LOCATION = b"https://shop.example.com/products/1?utm_source=newsletter&utm_medium=email"
START = {
    "type": "http.response.start",
    "status": 302,
    "headers": [(b"location", LOCATION), *REDIRECT_HEADERS],
}

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(START)
        await send(EMPTY_BODY)
    elif scope["type"] == "lifespan":
        while True:
            if (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app() -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    Granian(  # the options of control.servers.serve_edge, bar the edge-only kill timeout
        "bench.contenders.bare:create_app",
        factory=True,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        workers=1,
        log_access=False,
        backlog=4096,
    ).serve()


if __name__ == "__main__":
    main()
