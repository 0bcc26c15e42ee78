"""A query parameter given twice is a 400 naming it.

No parameter of this API takes a list. Left to the framework, `?tag=a&tag=b` counted
only tag `b` (and `from=...&from=...` the last range) and answered 200, so a client that
meant both got a wrong number without a word.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from control.api.errors import ApiError


def repeated_name(query: bytes) -> str | None:
    """The first parameter name that appears twice in a raw query string, if any."""
    seen: set[str] = set()
    for part in query.split(b"&"):
        if not part:
            continue
        name = unquote_plus(part.split(b"=", 1)[0].decode("latin-1"), encoding="utf-8")
        if name in seen:
            return name
        seen.add(name)
    return None


def single_query(app: ASGIApp) -> ASGIApp:
    """Litestar middleware: refuse a request that repeats a query parameter."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            query = scope.get("query_string", b"")
            if b"&" in query and (name := repeated_name(query)) is not None:
                shown = name if len(name) <= 100 else name[:100] + "..."
                raise ApiError(400, "invalid_parameter", f"{shown}: given more than once")
        await app(scope, receive, send)

    return middleware
