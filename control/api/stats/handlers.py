"""Statistics API: overview, breakdowns, time series, message timeline, raw clicks, export."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import get
from litestar.params import FromPath, FromQuery, PathParameter, QueryParameter
from litestar.response import Stream

from control.api.clicks import ClickOut, ClientOut, GeoOut, click_out, rfc3339
from control.api.context import Ctx, TenantId
from control.api.errors import ApiError, check_text
from control.api.stats.query import (
    CLICKS,
    FOREVER_MS,
    STATS,
    CursorParam,
    LimitParam,
    Selection,
    bad,
    cursor_of,
)
from control.api.stats.schemas import (
    BreakdownOut,
    BucketOut,
    ClickPage,
    LinkOut,
    OverviewOut,
    RowOut,
    SeriesOut,
    TimelineOut,
)
from control.db.models import Click
from control.stats import aggregate, answer, message, raw, series
from control.stats.filters import ClickFilter
from control.stats.params import ParamError


@get("/v1/stats/overview", sync_to_thread=True, tags=["stats"], dependencies=STATS)
def stats_overview(selection: Selection, ctx: Ctx) -> OverviewOut:
    """Clicks (total, unique), clicking messages, messages sent, click rate and bot clicks."""
    with ctx.sessions() as session:
        o = answer.overview(session, selection.filter)
    f = selection.filter
    return OverviewOut(
        from_ms=f.from_ms,
        to_ms=f.to_ms,
        total_clicks=o.total,
        unique_clicks=o.unique,
        unique_messages=o.messages,
        bot_clicks=o.bot_clicks,
        bots_excluded=o.bots_excluded,
        messages_sent=o.sent,
        click_rate=round(o.messages / o.sent, 6) if o.sent else 0.0,
    )


@get("/v1/stats/timeseries", sync_to_thread=True, tags=["stats"], dependencies=STATS)
def stats_timeseries(
    selection: Selection, ctx: Ctx, interval: FromQuery[Literal["hour", "day"]] = "day"
) -> SeriesOut:
    """Total and unique clicks per local hour or day in `tz`, empty buckets included."""
    try:
        with ctx.sessions() as session:
            buckets = series.timeseries(session, selection.filter, selection.tz, interval)
    except ParamError as exc:
        raise bad(exc) from None
    return SeriesOut(
        interval=interval,
        tz=selection.tz.key,
        from_ms=selection.filter.from_ms,
        to_ms=selection.filter.to_ms,
        buckets=[
            BucketOut(start=b.start, start_ms=b.start_ms, total=b.total, unique=b.unique)
            for b in buckets
        ],
    )


@get("/v1/stats/{dimension:str}", sync_to_thread=True, tags=["stats"], dependencies=STATS)
def stats_breakdown(
    dimension: Annotated[
        str,
        PathParameter(
            description="What to group by.", schema_extra={"enum": list(aggregate.DIMENSIONS)}
        ),
    ],
    selection: Selection,
    ctx: Ctx,
    limit: LimitParam = 50,
    detail: Annotated[
        Literal["country", "city"], QueryParameter(description="country with region and city rows.")
    ] = "country",
) -> BreakdownOut:
    """Total and unique clicks per value of one dimension, most clicked first."""
    if dimension not in aggregate.DIMENSIONS:
        raise ApiError(
            400,
            "invalid_parameter",
            f"dimension: {dimension!r} is not one of {', '.join(aggregate.DIMENSIONS)}",
        )
    with ctx.sessions() as session:
        rows = answer.breakdown(
            session, selection.filter, dimension, limit, detail=detail == "city"
        )
    return BreakdownOut(
        dimension=dimension,
        from_ms=selection.filter.from_ms,
        to_ms=selection.filter.to_ms,
        rows=[
            RowOut(key=r.key, total=r.total, unique=r.unique, region=r.region, city=r.city)
            for r in rows
        ],
    )


@get("/v1/clicks", sync_to_thread=True, tags=["clicks"], dependencies=CLICKS)
def list_clicks(
    selection: Selection, ctx: Ctx, cursor: CursorParam = None, limit: LimitParam = 100
) -> ClickPage:
    """Raw clicks, oldest first, in pages linked by an opaque, stable cursor."""
    after = cursor_of(cursor)
    with ctx.sessions() as session:
        rows, next_cursor = raw.page(session, selection.filter, after, limit)
        return ClickPage(clicks=[click_out(r) for r in rows], next_cursor=next_cursor)


@get(
    "/v1/clicks/export",
    tags=["clicks"],
    dependencies=CLICKS,
    # No media_type here: a handler's would override the Stream's own (ndjson or csv).
    response_description="NDJSON, one click per line (format=ndjson), or CSV with a header",
)
async def export_clicks(
    selection: Selection, ctx: Ctx, format: FromQuery[Literal["ndjson", "csv"]] = "ndjson"
) -> Stream:
    """Every matching click, streamed as NDJSON or CSV (the fields of GET /v1/clicks)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {"Content-Disposition": f'attachment; filename="clicks-{stamp}.{format}"'}
    if format == "csv":
        body = raw.export_csv(ctx.sessions, selection.filter, flat_click, CSV_HEADER)
        return Stream(body, media_type="text/csv", headers=headers)
    body = raw.export_ndjson(ctx.sessions, selection.filter, click_out)
    return Stream(body, media_type="application/x-ndjson", headers=headers)


@get("/v1/messages/{message_id:str}/timeline", sync_to_thread=True, tags=["clicks"])
def message_timeline(
    message_id: FromPath[str],
    tenant_id: TenantId,
    ctx: Ctx,
    cursor: CursorParam = None,
    limit: LimitParam = 1000,
) -> TimelineOut:
    """One message's clicks, oldest first, with per-link totals: for "the link didn't work"."""
    check_text("message_id", message_id, 200)
    after = cursor_of(cursor)
    f = ClickFilter(tenant_id, 0, FOREVER_MS, bots="include")
    with ctx.sessions() as session:
        links = message.link_summaries(session, tenant_id, message_id)
        rows, next_cursor = raw.page(session, f, after, limit, message_id=message_id)
        clicks = [click_out(r) for r in rows]
    bots = sum(link.bots for link in links)
    total = sum(link.total for link in links)
    return TimelineOut(
        message_id=message_id,
        total_clicks=total,
        human_clicks=total - bots,
        bot_clicks=bots,
        links=[
            LinkOut(
                link_index=s.link_index,
                location=s.location,
                url=s.url,
                total=s.total,
                unique=s.unique,
                bots=s.bots,
                first_time=rfc3339(s.first_ms),
                last_time=rfc3339(s.last_ms),
            )
            for s in links
        ],
        clicks=clicks,
        next_cursor=next_cursor,
    )


def flat_click(row: Click) -> dict[str, Any]:
    """ClickOut with client and geo flattened, for CSV."""
    out = msgspec.to_builtins(click_out(row))
    client, geo = out.pop("client"), out.pop("geo")
    return {**out, **client, **geo}


# message_id and stream came later than the rest: last, so the earlier columns keep
# their positions.
_LATER: Final = ("message_id", "stream")
CSV_HEADER = [
    *(f for f in ClickOut.__struct_fields__ if f not in ("client", "geo", *_LATER)),
    *ClientOut.__struct_fields__,
    *GeoOut.__struct_fields__,
    *_LATER,
]

HANDLERS = [
    stats_overview,
    stats_timeseries,
    stats_breakdown,
    list_clicks,
    export_clicks,
    message_timeline,
]
