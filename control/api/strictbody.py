"""JSON request bodies held to their types strictly: "false" is no bool, "5" no number.

A body sent with a Content-Type other than JSON is a 415 before it is parsed.

Litestar converts a decoded body to the handler's type with msgspec's ``strict=False``,
which read ``{"truncate_ips": "false"}``, ``"0"`` or ``0`` as false (switching off a
privacy setting) and ``{"retention_days": "5"}`` as 5. This hook runs before it and
decodes the raw body strictly with the same type, so such a body is a 400 naming the
field; Litestar's own decoding then runs on a body known to fit.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
from litestar import Request
from litestar.handlers import HTTPRouteHandler

from control.api.errors import ApiError

_NO_BODY = object()
# id(handler) -> (handler, its body type). The handler is kept with its entry: an app
# built and dropped (as tests do) frees its handlers, and a new handler given a freed
# id would otherwise inherit another route's body type and skip the strict check.
_body_types: dict[int, tuple[HTTPRouteHandler, Any]] = {}
_LOCATION = re.compile(r"(?s)(.*) - at `\$\.?(.*)`")
# A \uD800-\uDBFF escape not followed by a \uDC00-\uDFFF one, or the latter alone: JSON
# text for no character. Looked for only in a body that failed to decode, so a "\\u"
# (an escaped backslash) misread here changes no more than the error message.
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<![0-9a-fA-F]{4})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
LONE_SURROGATE_MESSAGE = (
    "body: a \\ud800-\\udfff escape without its pair (a lone UTF-16 surrogate) is no character"
)


def _body_type(handler: HTTPRouteHandler) -> Any:
    found = _body_types.get(id(handler))
    if found is None or found[0] is not handler:
        field = handler.parsed_fn_signature.parameters.get("data")
        found = _body_types[id(handler)] = (
            handler,
            _NO_BODY if field is None else field.annotation,
        )
    return found[1]


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """Before each handler: refuse a body that fits its type only when converted."""
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler):
        return
    body_type = _body_type(handler)
    if body_type is _NO_BODY:
        return
    raw = await request.body()
    if not raw.strip():
        return  # a missing body: Litestar names it
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    # No Content-Type at all is let through, as JSON: only a type that says otherwise
    # (a form, as `curl -d` sends) is refused, rather than parsed and called bad JSON.
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type {media_type!r}: send application/json"
        )
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):  # a gzip body was read as (malformed) JSON
        raise ApiError(
            415, "unsupported_media_type", f"Content-Encoding {encoding!r}: send it uncompressed"
        )
    try:
        msgspec.json.decode(raw, type=body_type, strict=True)
    except msgspec.ValidationError as exc:
        try:
            msgspec.json.decode(raw, type=body_type, strict=False)
        except msgspec.DecodeError:  # (ValidationError is one)
            return  # wrong either way: Litestar's answer names it as for any bad body
        raise ApiError(400, "bad_request", located(str(exc))) from None
    except msgspec.DecodeError:
        if _LONE_SURROGATE.search(raw):  # msgspec calls it "Input data was truncated"
            raise ApiError(400, "bad_request", LONE_SURROGATE_MESSAGE) from None
        return  # not JSON at all: Litestar's answer says so
    # msgspec keeps the last of a key given twice; a proxy or log that read the first
    # would disagree with what was stored ({"name": "a", "name": "b"} made stream "b").
    json.loads(raw, object_pairs_hook=_refuse_duplicate_keys)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            shown = key if len(key) <= 100 else key[:100] + "..."
            raise ApiError(400, "bad_request", f"{shown}: given more than once")
        found[key] = value
    return found


def located(message: str) -> str:
    """msgspec's "Expected `bool`, got `str` - at `$.enabled`" as "enabled: Expected ..."."""
    match = _LOCATION.fullmatch(message)
    if match is None:
        return message
    text, where = match.groups()
    return f"{where}: {text}" if where else text
