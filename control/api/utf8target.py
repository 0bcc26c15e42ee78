"""A path or query string that is not UTF-8 once percent-decoded is a 400.

Left to the framework, `%FF` becomes U+FFFD: `/v1/domains/%FF` answered "no click domain
'\ufffd'" and a message id or tag with such bytes matched a different, replaced string.
The raw bytes of the request target are checked instead, before the handler runs.

A query string may also arrive with raw (not percent-encoded) UTF-8, as curl and some
HTTP libraries send it. Litestar decodes the query as Latin-1, so `?tag=日本` matched
nothing and errors quoted mojibake; such bytes are percent-encoded before it parses them.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from control.api.errors import ApiError


def _is_utf8(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_HIGH_BYTE = re.compile(rb"[\x80-\xff]")


def _percent_encode_high_bytes(raw: bytes) -> bytes:
    return _HIGH_BYTE.sub(lambda byte: b"%%%02X" % byte[0][0], raw)


def utf8_target(app: ASGIApp) -> ASGIApp:
    """Litestar middleware: refuse a request whose path or query is not UTF-8."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            raw_path = scope.get("raw_path")
            # Some servers (and Litestar's test client) leave the query in raw_path.
            if isinstance(raw_path, bytes) and not _is_utf8(raw_path.split(b"?", 1)[0]):
                raise ApiError(400, "bad_request", "path: not UTF-8 once percent-decoded")
            query = scope.get("query_string", b"")
            if not _is_utf8(query):
                raise ApiError(400, "bad_request", "query: not UTF-8 once percent-decoded")
            if not query.isascii():
                scope["query_string"] = _percent_encode_high_bytes(query)
        await app(scope, receive, send)

    return middleware
