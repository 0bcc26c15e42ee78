"""Typed responses of the statistics API (they make its OpenAPI schemas)."""

from __future__ import annotations

import msgspec

from control.api.clicks import ClickOut


class OverviewOut(msgspec.Struct, kw_only=True):
    from_ms: int
    to_ms: int
    total_clicks: int
    unique_clicks: int  # first human click on each link of each message
    unique_messages: int  # messages whose first human click is in the selection
    bot_clicks: int  # bot clicks matching the other filters
    bots_excluded: int  # bot clicks left out of the totals (bots=exclude)
    messages_sent: int  # tracked messages first rewritten in the range (tag, stream, domain)
    click_rate: float  # unique_messages / messages_sent; 0 when none were sent


class RowOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    key: str  # "" when unknown (or, for tag, untagged)
    total: int
    unique: int
    region: str | None = None  # country with detail=city only
    city: str | None = None


class BreakdownOut(msgspec.Struct, kw_only=True):
    dimension: str
    from_ms: int
    to_ms: int
    rows: list[RowOut]


class BucketOut(msgspec.Struct, kw_only=True):
    start: str  # local start with its UTC offset, RFC 3339
    start_ms: int
    total: int
    unique: int


class SeriesOut(msgspec.Struct, kw_only=True):
    interval: str
    tz: str
    from_ms: int
    to_ms: int
    buckets: list[BucketOut]


class LinkOut(msgspec.Struct, kw_only=True):
    link_index: int
    location: str
    url: str
    total: int
    unique: int
    bots: int
    first_time: str
    last_time: str


class TimelineOut(msgspec.Struct, kw_only=True):
    message_id: str
    total_clicks: int
    human_clicks: int
    bot_clicks: int
    links: list[LinkOut]
    clicks: list[ClickOut]  # oldest first, one page
    next_cursor: str | None


class ClickPage(msgspec.Struct, kw_only=True):
    clicks: list[ClickOut]
    next_cursor: str | None  # null on the last page
