"""GET /v1/messages/{message_id}/clicks: one message's clicks, oldest first."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import get
from litestar.params import FromPath
from sqlalchemy import select

from control.api.context import Ctx, TenantId
from control.api.errors import check_text
from control.db.models import Click


class ClientOut(msgspec.Struct, kw_only=True):
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str
    platform: str  # Desktop, Mobile, Tablet, WebMail, Unknown
    email_client: str


class GeoOut(msgspec.Struct, kw_only=True):
    country: str
    region: str
    city: str
    asn: int
    as_org: str


class ClickOut(msgspec.Struct, kw_only=True):
    click_id: str
    time: str  # RFC 3339, UTC
    time_ms: int
    message_id: str  # "" for a link minted without one
    stream: str  # its message record's stream when stored; "" for no record
    url: str
    location: str
    link_index: int
    tags: list[str]
    ip: str
    user_agent: str
    referer: str
    method: str
    status: int  # 302 redirected, 410 blocked by a revocation
    domain: str
    recipient: str
    client: ClientOut
    geo: GeoOut
    is_bot: bool
    bot_reasons: list[str]  # why: head_request, prefetch, known_bot_ua, scanner_network, ...
    bot_confidence: float


# A message's clicks come in one answer, so it is bounded; a message clicked more often
# (a forwarded newsletter, a scanner) is read in full through GET /v1/clicks.
MESSAGE_CLICKS_MAX = 10_000


class MessageClicks(msgspec.Struct):
    message_id: str
    clicks: list[ClickOut]
    truncated: bool = False  # more than MESSAGE_CLICKS_MAX clicks: these are the oldest


def click_out(row: Click) -> ClickOut:
    return ClickOut(
        click_id=row.click_id,
        time=rfc3339(row.time_ms),
        time_ms=row.time_ms,
        message_id=row.message_id,
        stream=row.stream,
        url=row.url,
        location=row.location,
        link_index=row.link_index,
        tags=[str(t) for t in row.tags],
        ip=row.ip,
        user_agent=row.user_agent,
        referer=row.referer,
        method=row.method,
        status=row.status,
        domain=row.host,
        recipient=row.recipient,
        client=ClientOut(
            browser=row.browser,
            browser_version=row.browser_version,
            os=row.os,
            os_version=row.os_version,
            device=row.device,
            platform=row.platform,
            email_client=row.email_client,
        ),
        geo=GeoOut(
            country=row.country, region=row.region, city=row.city, asn=row.asn, as_org=row.as_org
        ),
        is_bot=row.is_bot,
        bot_reasons=[str(r) for r in row.bot_reasons],
        bot_confidence=row.bot_confidence,
    )


def rfc3339(ms: int) -> str:
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@get("/v1/messages/{message_id:str}/clicks", sync_to_thread=True, tags=["clicks"])
def message_clicks(message_id: FromPath[str], tenant_id: TenantId, ctx: Ctx) -> MessageClicks:
    """Every click on links of one message, oldest first."""
    check_text("message_id", message_id, 200)  # as the timeline: a message id's limits
    with ctx.sessions() as session:
        rows = session.scalars(
            select(Click)
            .where(Click.tenant_id == tenant_id, Click.message_id == message_id)
            .order_by(Click.time_ms, Click.id)
            .limit(MESSAGE_CLICKS_MAX + 1)
        ).all()
    return MessageClicks(
        message_id=message_id,
        clicks=[click_out(r) for r in rows[:MESSAGE_CLICKS_MAX]],
        truncated=len(rows) > MESSAGE_CLICKS_MAX,
    )
