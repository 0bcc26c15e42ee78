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
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                if status[:1] in ("4", "5"):
                    response["content"] = copy.deepcopy(_ERROR_CONTENT)
    return doc
