"""Bearer API-key authentication, resolved to the caller's tenant id."""

from __future__ import annotations

from typing import Any

from litestar import Request

from control.api.context import Ctx
from control.api.errors import ApiError
from control.tenants import authenticate


def tenant_from_request(request: Request[Any, Any, Any], ctx: Ctx) -> int:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <api key>")
    with ctx.sessions() as session:
        tenant_id = authenticate(session, key.strip())
    if tenant_id is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return tenant_id
