"""HEAD answered as GET without the body (RFC 9110 9.3.2), for every GET route.

Litestar routes HEAD only to handlers declared for it, so a load balancer's or an
uptime monitor's `HEAD /healthz` got a 405. Routing runs before Litestar's middleware,
so this wraps the whole app: the request goes on as a GET and the response's status
and headers (Content-Length included) go out as they are, with the body dropped.
"""

from __future__ import annotations

from typing import cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def head_as_get(app: ASGIApp) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                message = cast("Message", {**message, "body": b""})
            await send(message)

        await app(cast("Scope", {**scope, "method": "GET"}), receive, headers_only)

    return wrapped
