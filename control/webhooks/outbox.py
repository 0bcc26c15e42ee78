"""Transactional outbox: delivery rows for newly inserted clicks, in the ingest transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

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
    firsts = _first_human(session, [c for c in clicks if not c.is_bot])
    now = now_ms()
    deliveries = []
    for click in clicks:
        for endpoint in wanted:
            if endpoint.tenant_id != click.tenant_id:
                continue
            if click.is_bot and not endpoint.include_bots:
                continue
            if endpoint.mode == "first_human" and click.click_id not in firsts:
                continue
            deliveries.append(_delivery(click, endpoint, now))
    session.add_all(deliveries)
    session.flush()
    return len(deliveries)


def _first_human(session: Session, clicks: Sequence[Click]) -> set[str]:
    """Click ids with no earlier human click of the same message and link."""
    if not clicks:
        return set()
    other = aliased(Click)
    earlier = exists().where(
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
    ids = [c.click_id for c in clicks]
    found = session.scalars(select(Click.click_id).where(Click.click_id.in_(ids), ~earlier))
    return set(found)


def _delivery(click: Click, endpoint: WebhookEndpoint, now: int) -> WebhookDelivery:
    return WebhookDelivery(
        id=f"msg_{click.click_id}_{endpoint.id}",
        endpoint_id=endpoint.id,
        tenant_id=click.tenant_id,
        click_id=click.click_id,
        event_time_ms=click.time_ms,
        payload=_encode(click_payload(click)).decode(),
        status="pending",
        attempts=0,
        next_attempt_ms=now,
        locked_by="",
        locked_until_ms=0,
        attempt_log=[],
        created_ms=now,
    )


def click_payload(c: Click) -> dict[str, Any]:
    return {
        "type": "click",
        "click_id": c.click_id,
        "time": c.time_ms,
        "message_id": c.message_id,
        "recipient": c.recipient,
        "link": {"url": c.url, "index": c.link_index, "location": c.location},
        "tags": _list(c.tags),
        "domain": c.host,
        "client": {"browser": c.browser, "os": c.os, "platform": c.platform},
        "geo": {"country": c.country, "region": c.region, "city": c.city},
        "is_bot": bool(c.is_bot),
        "bot_reasons": _list(c.bot_reasons),
    }


def _list(value: Any) -> list[Any]:
    if isinstance(value, str | bytes):  # raw-inserted JSON text on some drivers
        return list(msgspec.json.decode(value))
    return list(value or [])
