"""The OpenAPI document as served: Litestar's, with every error response as our ErrorBody.

Litestar documents its own validation error shape ({status_code, detail, extra}); every
error this API sends goes through control.api.errors and looks like
{"error": {"code", "message"}}, so the document must say that (schemathesis checks it).
"""

from __future__ import annotations

import copy
from typing import Any

from litestar import Litestar

ERROR_BODY = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
# Streamed bodies Litestar cannot see: their media types, for the 200 response.
STREAMED = {"/v1/clicks/export": ("application/x-ndjson", "text/csv")}
# Errors every operation of a kind can answer, besides those Litestar infers (bad
# parameters, 400): what control.api.auth, the body size limit and the handlers raise.
_ERROR_DESCRIPTIONS = {
    "400": "Bad request: a parameter or body field is invalid (the message names it)",
    "401": "No API key, or an unknown or revoked one",
    "404": "No such resource for this tenant",
    "409": "Conflict with the current state (the code says which)",
    "408": "The request body stopped arriving (30 s without a byte of it)",
    "413": "Request body too large",
}
# The operations whose handlers answer 409 (control/api/*.py raise ApiError(409, ...)).
_CONFLICTS = frozenset(
    {
        ("post", "/v1/domains"),
        ("delete", "/v1/domains/{name}"),
        ("post", "/v1/links"),
        ("post", "/v1/messages/rewrite"),
        ("post", "/v1/revocations"),
        ("post", "/v1/streams"),
        ("patch", "/v1/streams/{name}"),
        ("delete", "/v1/streams/{name}"),
    }
)


# Operations that answer 404 for a name in their body (a stream or click domain).
_BODY_LOOKUPS = frozenset(
    {("post", "/v1/links"), ("post", "/v1/messages/rewrite"), ("post", "/v1/streams")}
)


def _errors_of(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    if not path.startswith("/v1/"):
        return []  # health, metrics and this document need no key
    statuses = ["400", "401"]
    if "{" in path or (method, path) in _BODY_LOOKUPS:
        statuses.append("404")
    if "requestBody" in operation:
        statuses += ["408", "413"]
    if (method, path) in _CONFLICTS:
        statuses.append("409")
    return statuses


_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def openapi_document(app: Litestar) -> dict[str, Any]:
    """Built once per app, then served from app.state."""
    cached: dict[str, Any] | None = app.state.get("openapi_document")
    if cached is None:
        cached = with_error_bodies(app.openapi_schema.to_schema())
        app.state["openapi_document"] = cached
    return cached


def with_error_bodies(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = ERROR_BODY
    for path, types in STREAMED.items():
        ok = doc.get("paths", {}).get(path, {}).get("get", {}).get("responses", {}).get("200")
        if ok is not None:
            ok["content"] = {t: {"schema": {"type": "string"}} for t in types}
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            for status in _errors_of(path, method, operation):
                responses.setdefault(status, {"description": _ERROR_DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status[:1] in ("4", "5"):
                    response["content"] = copy.deepcopy(_ERROR_CONTENT)
    return doc
