"""Overview and breakdowns computed from the raw clicks table (control.stats.rolled reads
the rollups instead; this is its fallback for ranges off the hour and the bench's baseline).

A click is "unique" when it is the first human click (by time, then click id) on its link
of its message, the link being (location, link_index, url): the first_clicks table kept at
ingest says which click that is. Attributing each unique to one click (rather than counting
distinct links per group) makes a breakdown's unique column add up to the overview's, and
lets rollups sum it. Likewise a "clicking message" is counted at its first human click.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from sqlalchemy import Select, Text, case, cast, desc, exists, func, select
from sqlalchemy.orm import Session

from control.db.models import Click, Message
from control.db.stats_models import FirstClick
from control.stats.filters import ClickFilter, conditions, dialect_of, has_tag

Dimension = Literal[
    "browser",
    "platform",
    "os",
    "email_client",
    "country",
    "link",
    "location",
    "tag",
    "domain",
    "stream",
]
DIMENSIONS: tuple[str, ...] = Dimension.__args__  # type: ignore[attr-defined]
COLUMNS: dict[str, Any] = {
    "browser": Click.browser,
    "platform": Click.platform,
    "os": Click.os,
    "email_client": Click.email_client,
    "country": Click.country,
    "link": Click.url,
    "location": Click.location,
    "domain": Click.host,
    "stream": Click.stream,
}
tags_decoder = msgspec.json.Decoder(list[Any])


@dataclass(frozen=True)
class Overview:
    total: int
    unique: int
    messages: int  # selected first human clicks of a message: messages clicked
    bot_clicks: int  # bot clicks matching every filter but `bots`
    bots_excluded: int  # of those, how many the totals leave out
    sent: int  # messages recorded (first rewrite) in the range, by stream, domain and tag


@dataclass(frozen=True)
class Row:
    key: str
    total: int
    unique: int
    region: str | None = None
    city: str | None = None


def first_flag(message_level: bool = False) -> Any:
    """1 on a click first_clicks names as a link's (or a message's) first, else 0."""
    level = FirstClick.link == "" if message_level else FirstClick.link != ""
    held = exists(select(1).where(FirstClick.click_id == Click.click_id, level))
    return case((held, 1), else_=0).label("first_msg" if message_level else "first")


def selected(session: Session, f: ClickFilter, *columns: Any) -> Any:
    """The filtered clicks with their first-click flags, as a subquery."""
    query = select(*columns, first_flag(), first_flag(message_level=True))
    return query.where(*conditions(f, dialect_of(session))).subquery()


def overview(session: Session, f: ClickFilter) -> Overview:
    sub = selected(session, f, Click.id)
    total, unique, messages = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(sub.c.first), 0),
            func.coalesce(func.sum(sub.c.first_msg), 0),
        )
    ).one()
    bots = (
        session.scalar(
            select(func.count())
            .select_from(Click)
            .where(*conditions(f.with_bots("only"), dialect_of(session)))
        )
        or 0
    )
    excluded = bots if f.bots == "exclude" else 0
    sent = messages_sent(session, f)
    return Overview(int(total), int(unique), int(messages), int(bots), excluded, sent)


def messages_sent(session: Session, f: ClickFilter) -> int:
    """Messages first recorded in the range (the bots filter does not apply to them)."""
    query = select(func.count()).where(
        Message.tenant_id == f.tenant_id,
        Message.created_ms >= f.from_ms,
        Message.created_ms < f.to_ms,
    )
    if f.tag is not None:
        query = query.where(has_tag(dialect_of(session), f.tag, Message.tags))
    if f.domain is not None:
        query = query.where(Message.domain == f.domain)
    if f.stream is not None:
        query = query.where(Message.stream == f.stream)
    return int(session.scalar(query) or 0)


def breakdown(
    session: Session, f: ClickFilter, dimension: str, limit: int, detail: bool = False
) -> list[Row]:
    """Rows sorted by total, then unique (both descending), then key."""
    if dimension == "tag":
        return by_tag(session, f, limit)
    keys = [COLUMNS[dimension]]
    if dimension == "country" and detail:
        keys += [Click.region, Click.city]
    sub = selected(session, f, *keys)
    cols = [sub.c[k.key] for k in keys]
    total = func.count().label("total")
    unique = func.sum(sub.c.first).label("unique")
    # Ties in code point order on both databases (PostgreSQL's default collation differs).
    ordered = [c.collate("C") for c in cols] if dialect_of(session) == "postgresql" else cols
    query: Select[Any] = (
        select(*cols, total, unique).group_by(*cols).order_by(desc(total), desc(unique), *ordered)
    )
    rows = session.execute(query.limit(limit)).all()
    if len(keys) == 3:
        return [Row(r[0], int(r[3]), int(r[4]), r[1], r[2]) for r in rows]
    return [Row(r[0], int(r[1]), int(r[2])) for r in rows]


def by_tag(session: Session, f: ClickFilter, limit: int) -> list[Row]:
    """Tags are a JSON list per click: group by the list in SQL, then split it here.

    A click counts once under each of its tags; untagged clicks count under "".
    """
    sub = selected(session, f, Click.tags)
    listed = cast(sub.c.tags, Text)
    query = select(listed, func.count(), func.sum(sub.c.first)).group_by(listed)
    totals: dict[str, list[int]] = {}
    for text, total, unique in session.execute(query):
        tags = {str(t) for t in tags_decoder.decode(text)} or {""}
        for tag in tags:
            counts = totals.setdefault(tag, [0, 0])
            counts[0] += int(total)
            counts[1] += int(unique)
    rows = [Row(tag, total, unique) for tag, (total, unique) in totals.items()]
    rows.sort(key=lambda r: (-r.total, -r.unique, r.key))
    return rows[:limit]
