"""One message's clicks summarised per link, for the message timeline."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from control.db.models import Click


@dataclass(frozen=True)
class LinkSummary:
    link_index: int
    location: str
    url: str
    total: int
    unique: int  # 1 once a human clicked it: its first human click
    bots: int
    first_ms: int
    last_ms: int


def link_summaries(session: Session, tenant_id: int, message_id: str) -> list[LinkSummary]:
    """Per link of the message: clicks, whether a human clicked, bot clicks, first and last."""
    link = (Click.link_index, Click.location, Click.url)
    query = (
        select(
            *link,
            func.count(),
            func.max(case((Click.is_bot.is_(False), 1), else_=0)),
            func.sum(case((Click.is_bot.is_(True), 1), else_=0)),
            func.min(Click.time_ms),
            func.max(Click.time_ms),
        )
        .where(Click.tenant_id == tenant_id, Click.message_id == message_id)
        .group_by(*link)
        .order_by(func.min(Click.time_ms), *link)
    )
    return [
        LinkSummary(int(i), loc, url, int(n), int(u), int(b), int(lo), int(hi))
        for i, loc, url, n, u, b, lo, hi in session.execute(query)
    ]
