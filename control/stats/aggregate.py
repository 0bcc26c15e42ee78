"""Overview and breakdowns (total and unique clicks per key), grouped in SQL over raw clicks.

A click is "unique" when it is the first one, in the selected clicks, on its link of its
message: the link is (message_id, location, link_index, url). Counting first clicks (rather
than distinct links per group) makes a breakdown's unique column add up to the overview's.
Rollup tables maintained at ingest are future work; these queries use the (tenant_id,
time_ms) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from sqlalchemy import Select, Text, case, cast, desc, func, select
from sqlalchemy.orm import Session

from control.db.models import Click
from control.stats.filters import ClickFilter, conditions, dialect_of

Dimension = Literal[
    "browser", "platform", "os", "email_client", "country", "link", "location", "tag", "domain"
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
}
tags_decoder = msgspec.json.Decoder(list[Any])


@dataclass(frozen=True)
class Overview:
    total: int
    unique: int
    messages: int  # distinct non-empty message ids among the selected clicks
    bot_clicks: int  # bot clicks matching every filter but `bots`
    bots_excluded: int  # of those, how many the totals leave out


@dataclass(frozen=True)
class Row:
    key: str
    total: int
    unique: int
    region: str | None = None
    city: str | None = None


def first_flag() -> Any:
    """1 on the first selected click of each message link (ties broken by id), else 0."""
    order = func.row_number().over(
        partition_by=(Click.message_id, Click.location, Click.link_index, Click.url),
        order_by=(Click.time_ms, Click.id),
    )
    return case((order == 1, 1), else_=0).label("first")


def selected(session: Session, f: ClickFilter, *columns: Any) -> Any:
    """The filtered clicks with their first-click flag, as a subquery."""
    return select(*columns, first_flag()).where(*conditions(f, dialect_of(session))).subquery()


def overview(session: Session, f: ClickFilter) -> Overview:
    sub = selected(session, f, Click.message_id)
    message = case((sub.c.message_id != "", sub.c.message_id))
    total, unique, messages = session.execute(
        select(
            func.count(), func.coalesce(func.sum(sub.c.first), 0), func.count(message.distinct())
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
    return Overview(int(total), int(unique), int(messages), int(bots), excluded)


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
