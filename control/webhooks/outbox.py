"""Transactional outbox: delivery rows for newly inserted clicks, in the ingest transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import Exists

from control.clock import now_ms
from control.db.models import Click, WebhookDelivery, WebhookEndpoint

_encode = msgspec.json.Encoder().encode


def enqueue_click_events(session: Session, rows: Sequence[tuple[Any, ...]]) -> int:
    """rows: newly inserted clicks (store.CLICK_COLUMNS order). Returns deliveries added."""
    tenants = {r[1] for r in rows}
    if not tenants:
        return 0
    endpoints = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.tenant_id.in_(tenants), WebhookEndpoint.enabled
        )
    ).all()
    wanted = [e for e in endpoints if "click" in (e.events or [])]
    if not wanted:
        return 0
    # Read the clicks back: burst detection may have flagged them as bots since.
    clicks = session.scalars(select(Click).where(Click.click_id.in_([r[0] for r in rows]))).all()
    deliveries = _deliveries(session, clicks, wanted)
    if deliveries:
        # A click stored again (deleted by retention, then sent again by an edge) keeps
        # its webhook-id: one row per id, or the insert would fail the whole batch, and
        # the edge would send it again forever.
        ids = [d.id for d in deliveries]
        present = set(
            session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.id.in_(ids)))
        )
        deliveries = [d for d in deliveries if d.id not in present]
    session.add_all(deliveries)
    session.flush()
    return len(deliveries)


# A replay queues at most this many clicks that were never queued for the endpoint; a
# wider range is filled by calling it again (clicks queued once are not queued again).
REPLAY_QUEUE_MAX = 10_000


def queue_missing(session: Session, endpoint: WebhookEndpoint, from_ms: int, to_ms: int) -> int:
    """Deliveries for the endpoint's clicks in [from_ms, to_ms) that were never queued
    for it: made while it was disabled, or before it existed. Its filters apply as at
    ingest (events, bots, first_human, stream), judged on the clicks as stored now."""
    if "click" not in (endpoint.events or []):
        return 0
    queued = select(WebhookDelivery.click_id).where(
        WebhookDelivery.endpoint_id == endpoint.id,
        WebhookDelivery.event_time_ms >= from_ms,
        WebhookDelivery.event_time_ms < to_ms,
    )
    query = select(Click).where(
        Click.tenant_id == endpoint.tenant_id,
        Click.time_ms >= from_ms,
        Click.time_ms < to_ms,
        Click.click_id.not_in(queued),
    )
    # Filters in SQL, before the LIMIT: filtered afterwards, 10,000 clicks the endpoint
    # does not want would fill every call, and a replay would never get past them.
    if not endpoint.include_bots:
        query = query.where(Click.is_bot.is_(False))
    if endpoint.stream is not None:
        query = query.where(Click.stream == endpoint.stream)
    if endpoint.mode == "first_human":
        query = query.where(Click.is_bot.is_(False), ~_earlier_human())
    clicks = session.scalars(query.order_by(Click.time_ms).limit(REPLAY_QUEUE_MAX)).all()
    deliveries = _deliveries(session, clicks, [endpoint])
    session.add_all(deliveries)
    session.flush()
    return len(deliveries)


def _deliveries(
    session: Session, clicks: Sequence[Click], endpoints: Sequence[WebhookEndpoint]
) -> list[WebhookDelivery]:
    """A delivery per click and endpoint that wants it: same tenant, its stream (if it
    names one), bots only if it includes them, and only first human clicks in
    first_human mode."""
    firsts = _first_human(session, [c for c in clicks if not c.is_bot])
    now = now_ms()
    deliveries = []
    for click in clicks:
        stream = click.stream or None  # a link minted alone has no message record
        for endpoint in endpoints:
            if endpoint.tenant_id != click.tenant_id:
                continue
            if endpoint.stream is not None and endpoint.stream != stream:
                continue
            if click.is_bot and not endpoint.include_bots:
                continue
            if endpoint.mode == "first_human" and click.click_id not in firsts:
                continue
            deliveries.append(_delivery(click, stream, endpoint, now))
    return deliveries


def _first_human(session: Session, clicks: Sequence[Click]) -> set[str]:
    """Click ids with no earlier human click of the same message and link."""
    if not clicks:
        return set()
    ids = [c.click_id for c in clicks]
    found = session.scalars(
        select(Click.click_id).where(Click.click_id.in_(ids), ~_earlier_human())
    )
    return set(found)


def _earlier_human() -> Exists:
    """There is a human click of the same message and link before this Click."""
    other = aliased(Click)
    return exists().where(
        other.tenant_id == Click.tenant_id,
        other.message_id == Click.message_id,
        other.location == Click.location,
        other.link_index == Click.link_index,
        other.url == Click.url,
        other.is_bot.is_(False),
        or_(
            other.time_ms < Click.time_ms,
            and_(other.time_ms == Click.time_ms, other.click_id < Click.click_id),
        ),
    )


def _delivery(
    click: Click, stream: str | None, endpoint: WebhookEndpoint, now: int
) -> WebhookDelivery:
    return WebhookDelivery(
        id=f"msg_{click.click_id}_{endpoint.id}",
        endpoint_id=endpoint.id,
        tenant_id=click.tenant_id,
        click_id=click.click_id,
        event_time_ms=click.time_ms,
        payload=_encode(click_payload(click, stream)).decode(),
        status="pending",
        attempts=0,
        next_attempt_ms=now,
        locked_by="",
        locked_until_ms=0,
        attempt_log=[],
        created_ms=now,
    )


def click_payload(c: Click, stream: str | None) -> dict[str, Any]:
    """The body sent (see README, webhooks); "" means unknown, as in the clicks API."""
    return {
        "type": "click",
        "click_id": c.click_id,
        "time": c.time_ms,
        "message_id": c.message_id,
        "stream": stream,
        "recipient": c.recipient,
        "link": {"url": c.url, "index": c.link_index, "location": c.location},
        "tags": _list(c.tags),  # the message's tags, then the link's own (rewrite API)
        "domain": c.host,
        "client": {
            "browser": c.browser,
            "browser_version": c.browser_version,
            "os": c.os,
            "os_version": c.os_version,
            "device": c.device,
            "platform": c.platform,
            "email_client": c.email_client,
        },
        "geo": {"country": c.country, "region": c.region, "city": c.city},
        "is_bot": bool(c.is_bot),
        "bot_reasons": _list(c.bot_reasons),
        "bot_confidence": c.bot_confidence,
        "user_agent": c.user_agent,
        "ip": c.ip,  # as stored: truncated unless the tenant turned truncation off
        "status": c.status,  # 302, or 410 for a revoked link (not redirected)
    }


def _list(value: Any) -> list[Any]:
    if isinstance(value, str | bytes):  # raw-inserted JSON text on some drivers
        return list(msgspec.json.decode(value))
    return list(value or [])
