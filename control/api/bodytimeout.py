"""A request body that stops arriving is a 408, not a request held open for good.

Granian times out reading request headers, but not a body: a client that announces
Content-Length: 1000 and sends 10 bytes would keep its handler waiting as long as it
keeps the connection open. Each receive() of an unfinished body gets BODY_TIMEOUT_S;
once the body is complete, receive() is passed through untouched (Litestar's streamed
responses wait on it for the disconnect, for as long as an export takes).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from control.api.errors import ApiError

BODY_TIMEOUT_S = 30.0


class BodyTimeout(ApiError):
    def __init__(self) -> None:
        super().__init__(
            408, "request_timeout", f"request body not received within {BODY_TIMEOUT_S:g} s"
        )


def body_timeout(app: ASGIApp) -> ASGIApp:
    """Litestar middleware: wrap receive() of HTTP requests with the body timeout."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        complete = False

        async def timed_receive() -> ReceiveMessage:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(BODY_TIMEOUT_S):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout from None
            event = cast("dict[str, Any]", message)
            if event["type"] != "http.request" or not event.get("more_body", False):
                complete = True
            return message

        await app(scope, timed_receive, send)

    return middleware
