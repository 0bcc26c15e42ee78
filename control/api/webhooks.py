"""Webhook endpoints (/v1/webhooks), their deliveries, replay and retry."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import delete, get, patch, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from control.api.context import AppContext, Ctx, RowId, TenantId
from control.api.errors import ApiError
from control.clock import now_ms
from control.db.models import WebhookDelivery, WebhookEndpoint
from control.webhooks import endpoints as service


class EndpointIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    events: list[str] = msgspec.field(default_factory=lambda: ["click"])
    mode: str = "every"  # every, first_human (first human click per message and link)
    include_bots: bool = False
    headers: dict[str, str] = {}
    stream: str | None = None  # a message stream's name: only clicks of its messages


class EndpointPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class RotateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    expire_after_seconds: int = service.DEFAULT_OVERLAP_S  # the old secret's overlap


class EndpointOut(msgspec.Struct, kw_only=True):
    id: int
    url: str
    stream: str | None
    events: list[str]
    mode: str
    include_bots: bool
    headers: dict[str, str]
    enabled: bool
    disabled_reason: str  # why deliveries stopped, e.g. the receiver answered 410 Gone
    created_ms: int
    previous_secret_expires_ms: int | None  # during a rotation: when the old secret stops
    secret: str | None = None  # only in the answers to create and rotate


class EndpointList(msgspec.Struct):
    webhooks: list[EndpointOut]


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: str  # the webhook-id header, stable across retries
    click_id: str
    status: str  # pending, delivered, failed
    attempts: int
    next_attempt_ms: int
    last_status_code: int
    last_error: str
    attempt_log: list[dict[str, Any]]
    delivered_ms: int | None


class DeliveryList(msgspec.Struct):
    deliveries: list[DeliveryOut]


Millis = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class ReplayIn(msgspec.Struct, forbid_unknown_fields=True, rename={"from_ms": "from"}):
    from_ms: Millis  # click time, ms since the epoch, inclusive
    to: Millis  # exclusive


class ReplayOut(msgspec.Struct):
    requeued: int


def endpoint_out(e: WebhookEndpoint, secret: str | None = None) -> EndpointOut:
    return EndpointOut(
        id=e.id,
        url=e.url,
        stream=e.stream,
        events=list(e.events),
        mode=e.mode,
        include_bots=e.include_bots,
        headers=dict(e.headers or {}),
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        created_ms=e.created_ms,
        previous_secret_expires_ms=service.previous_secret_expiry(e, now_ms()),
        secret=secret,
    )


def delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        click_id=d.click_id,
        status=d.status,
        attempts=d.attempts,
        next_attempt_ms=d.next_attempt_ms,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        attempt_log=list(d.attempt_log or []),
        delivered_ms=d.delivered_ms,
    )


def _not_found(exc: LookupError) -> ApiError:
    return ApiError(404, "not_found", str(exc).strip("'\""))


@post("/v1/webhooks", sync_to_thread=True, status_code=201, tags=["webhooks"])
def create_webhook(data: JSONBody[EndpointIn], tenant_id: TenantId, ctx: Ctx) -> EndpointOut:
    """A new endpoint; the answer carries its signing secret, shown this once."""
    try:
        with ctx.sessions.begin() as session:
            row, secret = service.create_endpoint(
                session, ctx.sealer, tenant_id, **msgspec.structs.asdict(data)
            )
            return endpoint_out(row, secret)
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@get("/v1/webhooks", sync_to_thread=True, tags=["webhooks"])
def list_webhooks(tenant_id: TenantId, ctx: Ctx) -> EndpointList:
    with ctx.sessions() as session:
        rows = session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.tenant_id == tenant_id)
            .order_by(WebhookEndpoint.id)
        ).all()
        return EndpointList([endpoint_out(e) for e in rows])


def _show(ctx: AppContext, tenant_id: int, webhook_id: int) -> EndpointOut:
    try:
        with ctx.sessions() as session:
            return endpoint_out(service.find_endpoint(session, tenant_id, webhook_id))
    except LookupError as exc:
        raise _not_found(exc) from None


# Async on purpose: with sync_to_thread PATCH/DELETE on the same path, Litestar 2 hands
# this handler's un-awaited coroutine to the serializer (see control.api.domains).
@get("/v1/webhooks/{webhook_id:int}", tags=["webhooks"])
async def show_webhook(webhook_id: RowId, tenant_id: TenantId, ctx: Ctx) -> EndpointOut:
    """One endpoint; disabled_reason says why deliveries stopped."""
    return await asyncio.to_thread(_show, ctx, tenant_id, webhook_id)


@patch("/v1/webhooks/{webhook_id:int}", sync_to_thread=True, tags=["webhooks"])
def update_webhook(
    webhook_id: RowId, data: JSONBody[EndpointPatch], tenant_id: TenantId, ctx: Ctx
) -> EndpointOut:
    """Enable (clearing disabled_reason) or disable an endpoint."""
    try:
        with ctx.sessions.begin() as session:
            row = service.find_endpoint(session, tenant_id, webhook_id)
            service.set_enabled(session, row, data.enabled)
            return endpoint_out(row)
    except LookupError as exc:
        raise _not_found(exc) from None


@delete("/v1/webhooks/{webhook_id:int}", sync_to_thread=True, tags=["webhooks"])
def delete_webhook(webhook_id: RowId, tenant_id: TenantId, ctx: Ctx) -> None:
    try:
        with ctx.sessions.begin() as session:
            service.delete_endpoint(session, service.find_endpoint(session, tenant_id, webhook_id))
    except LookupError as exc:
        raise _not_found(exc) from None


@post(
    "/v1/webhooks/{webhook_id:int}/rotate", sync_to_thread=True, status_code=200, tags=["webhooks"]
)
def rotate_webhook_secret(
    webhook_id: RowId, tenant_id: TenantId, ctx: Ctx, data: JSONBody[RotateIn | None] = None
) -> EndpointOut:
    """A new signing secret (shown this once); until expire_after_seconds have passed,
    every request carries signatures with both the new and the old secret."""
    try:
        with ctx.sessions.begin() as session:
            row = service.find_endpoint(session, tenant_id, webhook_id)
            overlap = (data or RotateIn()).expire_after_seconds
            return endpoint_out(row, service.rotate_secret(ctx.sealer, row, overlap))
    except LookupError as exc:
        raise _not_found(exc) from None
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@get("/v1/webhooks/{webhook_id:int}/deliveries", sync_to_thread=True, tags=["webhooks"])
def list_deliveries(webhook_id: RowId, tenant_id: TenantId, ctx: Ctx) -> DeliveryList:
    """The endpoint's latest deliveries (up to 100) with every attempt's outcome."""
    try:
        with ctx.sessions() as session:
            service.find_endpoint(session, tenant_id, webhook_id)
            rows = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == webhook_id)
                .order_by(WebhookDelivery.event_time_ms.desc(), WebhookDelivery.id)
                .limit(100)
            ).all()
            return DeliveryList([delivery_out(d) for d in rows])
    except LookupError as exc:
        raise _not_found(exc) from None


@post(
    "/v1/webhooks/{webhook_id:int}/replay", sync_to_thread=True, status_code=202, tags=["webhooks"]
)
def replay_webhook(
    webhook_id: RowId, data: JSONBody[ReplayIn], tenant_id: TenantId, ctx: Ctx
) -> ReplayOut:
    """Send the events of a click-time range again, with their original webhook-ids."""
    if data.to <= data.from_ms:
        raise ApiError(400, "bad_request", "to must be after from")
    try:
        with ctx.sessions.begin() as session:
            service.find_endpoint(session, tenant_id, webhook_id)
            return ReplayOut(service.replay(session, webhook_id, data.from_ms, data.to))
    except LookupError as exc:
        raise _not_found(exc) from None


@post(
    "/v1/webhooks/deliveries/{delivery_id:str}/retry",
    sync_to_thread=True,
    status_code=202,
    tags=["webhooks"],
)
def retry_webhook_delivery(
    delivery_id: FromPath[str], tenant_id: TenantId, ctx: Ctx
) -> DeliveryOut:
    try:
        with ctx.sessions.begin() as session:
            return delivery_out(service.retry_delivery(session, tenant_id, delivery_id))
    except LookupError as exc:
        raise _not_found(exc) from None


HANDLERS = [
    create_webhook,
    list_webhooks,
    show_webhook,
    update_webhook,
    delete_webhook,
    rotate_webhook_secret,
    list_deliveries,
    replay_webhook,
    retry_webhook_delivery,
]
