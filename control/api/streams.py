"""Message streams (/v1/streams): a click domain and link-tracking defaults per stream."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import delete, get, patch, post
from litestar.params import FromPath, JSONBody
from sqlalchemy.exc import IntegrityError

from control.api.context import Ctx, TenantId
from control.api.errors import ApiError
from control.streams import (
    StreamIn,
    StreamOut,
    StreamPatch,
    create_stream,
    delete_stream,
    get_stream,
    list_streams,
    stored_name,
    stream_out,
    update_stream,
)
from control.tenants import Conflict, NotFound


class StreamList(msgspec.Struct):
    streams: list[StreamOut]


def _api_error(exc: Exception) -> ApiError:
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, Conflict):  # before ValueError: Conflict is one
        return ApiError(409, "conflict", str(exc))
    return ApiError(400, "bad_request", str(exc))


@post("/v1/streams", sync_to_thread=True, status_code=201, tags=["streams"])
def create_stream_handler(data: JSONBody[StreamIn], tenant_id: TenantId, ctx: Ctx) -> StreamOut:
    """Create a stream; `default: true` makes it the one rewrites use when naming none."""
    try:
        with ctx.sessions.begin() as session:
            return stream_out(create_stream(session, tenant_id, data))
    except (NotFound, ValueError) as exc:
        raise _api_error(exc) from None
    except IntegrityError:  # the same name created by a concurrent request
        raise ApiError(409, "conflict", f"stream {stored_name(data.name)!r} exists") from None


@get("/v1/streams", sync_to_thread=True, tags=["streams"])
def list_streams_handler(tenant_id: TenantId, ctx: Ctx) -> StreamList:
    with ctx.sessions() as session:
        return StreamList([stream_out(s) for s in list_streams(session, tenant_id)])


def _load(ctx: Ctx, tenant_id: int, name: str) -> StreamOut:
    with ctx.sessions() as session:
        try:
            return stream_out(get_stream(session, tenant_id, name))
        except NotFound as exc:
            raise _api_error(exc) from None


# Async on purpose, as in control.api.domains: with a sync_to_thread PATCH on the same
# path, Litestar 2 would hand a sync GET's un-awaited coroutine to the serializer.
@get("/v1/streams/{name:str}", tags=["streams"])
async def show_stream(name: FromPath[str], tenant_id: TenantId, ctx: Ctx) -> StreamOut:
    return await asyncio.to_thread(_load, ctx, tenant_id, name)


@patch("/v1/streams/{name:str}", sync_to_thread=True, tags=["streams"])
def update_stream_handler(
    name: FromPath[str], data: JSONBody[StreamPatch], tenant_id: TenantId, ctx: Ctx
) -> StreamOut:
    """Change a stream's defaults; fields left out stay as they are."""
    try:
        with ctx.sessions.begin() as session:
            return stream_out(update_stream(session, tenant_id, name, data))
    except (NotFound, ValueError) as exc:
        raise _api_error(exc) from None


@delete("/v1/streams/{name:str}", sync_to_thread=True, tags=["streams"])
def delete_stream_handler(name: FromPath[str], tenant_id: TenantId, ctx: Ctx) -> None:
    """Remove a stream (not the default one); recorded messages keep its name."""
    try:
        with ctx.sessions.begin() as session:
            delete_stream(session, tenant_id, name)
    except (NotFound, ValueError) as exc:
        raise _api_error(exc) from None
