"""Pre-built ASGI response messages: the hot path allocates only the Location header."""

from __future__ import annotations

from typing import Any, Final

Message = dict[str, Any]

REDIRECT_HEADERS: Final = (
    (b"cache-control", b"no-store"),
    (b"content-length", b"0"),
    (b"referrer-policy", b"no-referrer-when-downgrade"),
)
EMPTY_BODY: Final[Message] = {"type": "http.response.body", "body": b"", "more_body": False}

NOT_FOUND_PAGE: Final = (
    b"<!doctype html><title>Link not found</title>"
    b"<p>This link is not valid. Please check the address or contact the sender.</p>\n"
)


def _page(status: int, body: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()) -> list[Message]:
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        *extra,
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


def _text(status: int, body: bytes, content_type: bytes = b"text/plain") -> list[Message]:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


NOT_FOUND: Final = _page(404, NOT_FOUND_PAGE)
NOT_FOUND_HEAD: Final = [NOT_FOUND[0], EMPTY_BODY]
GONE: Final = _page(
    410,
    b"<!doctype html><title>Link disabled</title>"
    b"<p>This link has been disabled. If you expected it to work, contact the sender.</p>\n",
)
GONE_HEAD: Final = [GONE[0], EMPTY_BODY]
METHOD_NOT_ALLOWED: Final = _page(
    405, b"<!doctype html><title>Method not allowed</title>\n", ((b"allow", b"GET, HEAD"),)
)
BAD_REQUEST: Final = _page(
    400,
    b"<!doctype html><title>Bad request</title><p>The request has no usable Host header.</p>\n",
)
BAD_REQUEST_HEAD: Final = [BAD_REQUEST[0], EMPTY_BODY]
OK: Final = _text(200, b"ok\n")
NOT_READY: Final = _text(503, b"not ready\n")
