"""Clicks per hour or day in the caller's time zone, correct across DST changes.

Python adds rollup rows into local buckets: UTC hour rows (and UTC day rows when every
bucket edge is a UTC midnight), which fit whenever all bucket edges fall on whole hours,
as in every zone with a whole-hour offset. Local days elsewhere take UTC day rows,
corrected by the hour rows between each local midnight and the nearest UTC one
(rolled.per_bucket). Otherwise (30 and 45 minute offsets, ranges off
the hour) the raw clicks are counted per 15-minute UTC slot (every current zone's offset
is a multiple of 15 minutes, so a slot never straddles a local hour), or, should an edge
not fall on a slot edge either (historic odd offsets), per click.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control.db.models import Click
from control.rollups.facts import DAY_MS, HOUR_MS
from control.stats import rolled
from control.stats.aggregate import selected
from control.stats.filters import ClickFilter
from control.stats.params import ParamError

Interval = Literal["hour", "day"]
SLOT_MS = 900_000
MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Bucket:
    start_ms: int
    start: str  # local time with its offset, RFC 3339
    total: int
    unique: int


def local(ms: int, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).astimezone(tz)


def floor_local(ms: int, tz: ZoneInfo, interval: Interval) -> int:
    """Start of the local hour or day holding instant `ms`."""
    when = local(ms, tz)
    if interval == "hour":
        start = when.replace(minute=0, second=0, microsecond=0)
    else:
        start = dt.datetime.combine(when.date(), dt.time(0), tzinfo=tz)
    return int(start.timestamp() * 1000)


def next_boundary(ms: int, tz: ZoneInfo, interval: Interval) -> int:
    if interval == "hour":
        later = floor_local(ms + 3_600_000, tz, "hour")
        return later if later > ms else ms + 3_600_000
    day = local(ms, tz).date() + dt.timedelta(days=1)
    return int(dt.datetime.combine(day, dt.time(0), tzinfo=tz).timestamp() * 1000)


def boundaries(from_ms: int, to_ms: int, tz: ZoneInfo, interval: Interval) -> list[int]:
    """Bucket starts covering [from_ms, to_ms), plus the end of the last bucket."""
    edges = [floor_local(from_ms, tz, interval)]
    while edges[-1] < to_ms:
        if len(edges) > MAX_BUCKETS:
            raise ParamError("interval", f"more than {MAX_BUCKETS} buckets; narrow the range")
        edges.append(next_boundary(edges[-1], tz, interval))
    return edges


def timeseries(
    session: Session, f: ClickFilter, tz: ZoneInfo, interval: Interval, rollups: bool = True
) -> list[Bucket]:
    """rollups=False counts the raw clicks even where the rollups would do (the bench)."""
    edges = boundaries(f.from_ms, f.to_ms, tz, interval)
    counts = [[0, 0] for _ in edges[:-1]]
    if rollups and rolled.covers(f) and all(e % HOUR_MS == 0 for e in edges):
        days = all(e % DAY_MS == 0 for e in edges)
        if interval == "day" and not days:  # UTC day rows, corrected near local midnights
            return buckets(edges, tz, rolled.per_bucket(session, f, edges))
        found = rolled.counted(session, f, days)
    else:
        found = counted(session, f, all(e % SLOT_MS == 0 for e in edges))
    for start, total, unique in found:
        index = bisect.bisect_right(edges, start) - 1
        counts[index][0] += total
        counts[index][1] += unique
    return buckets(edges, tz, counts)


def buckets(edges: list[int], tz: ZoneInfo, counts: list[list[int]]) -> list[Bucket]:
    return [
        Bucket(edge, local(edge, tz).isoformat(), total, unique)
        for edge, (total, unique) in zip(edges, counts, strict=False)
    ]


def counted(session: Session, f: ClickFilter, by_slot: bool) -> list[tuple[int, int, int]]:
    """(time, total, unique) per 15-minute slot, or per click when slots will not do."""
    sub = selected(session, f, Click.time_ms)
    if not by_slot:
        rows = session.execute(select(sub.c.time_ms, sub.c.first))
        return [(int(t), 1, int(first)) for t, first in rows]
    slot = (sub.c.time_ms // SLOT_MS).label("slot")
    query = select(slot, func.count(), func.sum(sub.c.first)).group_by(slot)
    return [(int(s) * SLOT_MS, int(n), int(u)) for s, n, u in session.execute(query)]
