"""The obvious Python way: a Starlette route, an itsdangerous-signed token, uvicorn.

One uvicorn worker on uvloop, with httptools when it is installed (else h11, which
is what uvicorn falls back to). Clicks are kept in a bounded in-memory deque: no
journal, so this peer does less per click than the edge does.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections import deque
from typing import Any

import uvicorn
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

SERIALIZER = URLSafeSerializer("bench-secret-not-for-production", salt="click")
CLICKS: deque[tuple[Any, ...]] = deque(maxlen=10_000)
HTTP = "httptools" if importlib.util.find_spec("httptools") else "h11"


def mint(url: str, message_id: str, link_index: int) -> str:
    """The request path of a tracked link to url."""
    return "/c/" + SERIALIZER.dumps({"u": url, "m": message_id, "i": link_index})


async def click(request: Request) -> Response:
    try:
        link = SERIALIZER.loads(request.path_params["token"])
    except BadSignature:
        return PlainTextResponse("Link not found", status_code=404)
    headers = request.headers
    CLICKS.append(
        (
            link["m"],
            link["i"],
            request.client.host if request.client else "",
            headers.get("user-agent", ""),
            headers.get("accept-language", ""),
        )
    )
    return RedirectResponse(link["u"], status_code=302, headers={"cache-control": "no-store"})


app = Starlette(routes=[Route("/c/{token}", click)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http=HTTP,
        access_log=False,
        log_level="warning",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
