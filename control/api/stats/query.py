"""Parameters every statistics endpoint shares, parsed once into a ClickFilter (400s here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from control import domains, streams
from control.api.context import TenantId
from control.api.errors import ApiError, check_text
from control.clock import now_ms
from control.stats import raw
from control.stats.filters import Bots, ClickFilter
from control.stats.params import ParamError, parse_range, parse_tz

FOREVER_MS = 1 << 62


@dataclass(frozen=True)
class Query:
    """The parsed common parameters of a statistics request."""

    filter: ClickFilter
    tz: ZoneInfo


Selection = NamedDependency[Query]

FromParam = Annotated[
    str | None,
    QueryParameter(
        name="from",
        description="Start, inclusive: RFC 3339 with an offset, or YYYY-MM-DD (midnight in tz). "
        "Default: 30 days before `to`.",
    ),
]
ToParam = Annotated[
    str | None,
    QueryParameter(
        description="End, exclusive: RFC 3339 with an offset, or YYYY-MM-DD (that whole day "
        "included, in tz). Default: now."
    ),
]
TagParam = Annotated[str | None, QueryParameter(description="Only clicks carrying this tag.")]
DomainParam = Annotated[str | None, QueryParameter(description="Only clicks on this click domain.")]
StreamParam = Annotated[
    str | None, QueryParameter(description="Only clicks of messages sent in this message stream.")
]
TzParam = Annotated[
    str | None, QueryParameter(description="IANA time zone for dates and buckets. Default: UTC.")
]
LimitParam = Annotated[int, QueryParameter(ge=1, le=1000, description="Rows to return (1-1000).")]
CursorParam = Annotated[
    str | None,
    QueryParameter(description="`next_cursor` from the previous page; omit for the first."),
]


def bad(exc: ParamError) -> ApiError:
    return ApiError(400, "invalid_parameter", str(exc))


def build_query(
    tenant_id: int,
    start: str | None,
    stop: str | None,
    tag: str | None,
    domain: str | None,
    bots: Bots,
    tz_name: str | None,
    stream: str | None = None,
) -> Query:
    try:
        tz = parse_tz(tz_name)
        from_ms, to_ms = parse_range(start, stop, tz, now_ms())
    except ParamError as exc:
        raise bad(exc) from None
    for name, value in (("tag", tag), ("domain", domain), ("stream", stream)):
        if value is not None:
            check_text(name, value, 253)
    # As everywhere else in the API, `Click.Example.` is the domain `click.example` and
    # `Marketing` the stream `marketing`. Tags are the sender's own strings: exact.
    domain = None if domain is None else domains.stored_name(domain)
    stream = None if stream is None else streams.stored_name(stream)
    return Query(ClickFilter(tenant_id, from_ms, to_ms, tag, domain, bots, stream), tz)


def stats_query(
    tenant_id: TenantId,
    from_: FromParam = None,
    to: ToParam = None,
    tag: TagParam = None,
    domain: DomainParam = None,
    bots: FromQuery[Bots] = "exclude",
    tz: TzParam = None,
    stream: StreamParam = None,
) -> Query:
    """Statistics leave bot clicks out unless asked (bots=include or bots=only)."""
    return build_query(tenant_id, from_, to, tag, domain, bots, tz, stream)


def clicks_query(
    tenant_id: TenantId,
    from_: FromParam = None,
    to: ToParam = None,
    tag: TagParam = None,
    domain: DomainParam = None,
    bots: FromQuery[Bots] = "include",
    tz: TzParam = None,
    stream: StreamParam = None,
) -> Query:
    """Raw clicks include bot clicks unless asked (bots=exclude or bots=only)."""
    return build_query(tenant_id, from_, to, tag, domain, bots, tz, stream)


STATS = {"selection": Provide(stats_query, sync_to_thread=False)}
CLICKS = {"selection": Provide(clicks_query, sync_to_thread=False)}


def cursor_of(value: str | None) -> tuple[int, int] | None:
    try:
        return None if value is None else raw.decode_cursor(value)
    except ParamError as exc:
        raise bad(exc) from None
