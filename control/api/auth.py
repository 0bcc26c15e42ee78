"""Bearer API-key authentication, resolved to the caller's tenant id."""

from __future__ import annotations

from typing import Any

from litestar import Request

from control.api.context import Ctx
from control.api.errors import ApiError
from control.tenants import authenticate


def tenant_from_request(request: Request[Any, Any, Any], ctx: Ctx) -> int:
    # Two credentials are refused rather than one of them taken: which one counts would
    # be up to whoever reads the request (a proxy may add its own). They arrive as two
    # header lines or, joined as RFC 9110 5.3 combines repeated fields, as one line with
    # a ",", which no API key contains.
    values = [v for k, v in request.scope["headers"] if k == b"authorization"]
    header = values[0].decode("latin-1") if values else ""
    if len(values) > 1 or "," in header:
        raise ApiError(401, "unauthorized", "send one Authorization header, not several")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <api key>")
    with ctx.sessions() as session:
        tenant_id = authenticate(session, key.strip())
    if tenant_id is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return tenant_id
