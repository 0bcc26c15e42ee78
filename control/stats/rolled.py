"""Overview, breakdowns and series read from the rollups kept at ingest.

Rollups hold UTC hours and UTC days, so they answer any range whose ends fall on a whole
hour: the UTC days inside the range come from day rows, the hours at either end from hour
rows. Dates in a zone with a whole-hour offset always do. Ranges that start or end
off the hour (an RFC 3339 instant like 10:30Z, or a date in a zone with a 30 or 45 minute
offset such as Asia/Kolkata or Asia/Kathmandu) are answered from the raw clicks instead:
exact, only slower (see control.stats.answer). So are breakdowns by a dimension other
than tag, domain or stream, filtered by tag, domain or stream, over a range that is not
whole UTC days: their labelled rows are kept per day only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, cast, exists, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from control.db.stats_models import ClickRollup as R
from control.rollups.facts import DAY_MS, HOUR_MS, SEP, UNLABELLED
from control.stats.aggregate import Overview, Row
from control.stats.filters import ClickFilter, dialect_of

_list = msgspec.json.Decoder(list[str]).decode
# Breakdowns read from the 'all' rows, grouped by a label column rather than a value.
LABELS: dict[str, Any] = {"tag": R.tags, "domain": R.domain, "stream": R.stream}


def covers(f: ClickFilter, dimension: str = "all") -> bool:
    """Whether the rollups hold this query: whole hours, or whole UTC days for a breakdown
    that needs labelled rows of a dimension other than 'all' (kept per day only, see
    control.rollups.grouped.variants)."""
    labelled = f.tag is not None or f.domain is not None or f.stream is not None
    size = DAY_MS if labelled and dimension not in LABELS and dimension != "all" else HOUR_MS
    return f.from_ms % size == 0 and f.to_ms % size == 0


def spans(from_ms: int, to_ms: int, days: bool = True) -> Iterator[tuple[str, int, int]]:
    """(span, from, to): day rows for the whole UTC days inside, hour rows for the rest."""
    first_day = -(-from_ms // DAY_MS) * DAY_MS
    last_day = to_ms // DAY_MS * DAY_MS
    if not days or first_day >= last_day:
        yield "h", from_ms, to_ms
        return
    if from_ms < first_day:
        yield "h", from_ms, first_day
    yield "d", first_day, last_day
    if last_day < to_ms:
        yield "h", last_day, to_ms


def has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return cast(R.tags, JSONB).contains([tag])
    items = func.json_each(R.tags).table_valued("value")
    return exists(select(1).select_from(items).where(items.c.value == tag))


def terms(session: Session, f: ClickFilter, dimension: str, labels: bool = False) -> list[Any]:
    """Filters on rollup rows; the primary key serves tenant, dimension, span and bucket."""
    labelled = f.tag is not None or f.domain is not None or f.stream is not None
    if not labelled and not labels:
        dimension += UNLABELLED  # no filter on labels: one row per value, not per mix
    out: list[Any] = [R.tenant_id == f.tenant_id, R.dimension == dimension]
    if f.tag is not None:
        out.append(has_tag(dialect_of(session), f.tag))
    if f.domain is not None:
        out.append(R.domain == f.domain)
    if f.stream is not None:
        out.append(R.stream == f.stream)
    if f.bots != "include":
        out.append(R.is_bot.is_(f.bots == "only"))
    return out


def summed(
    session: Session,
    f: ClickFilter,
    dimension: str,
    group: list[Any],
    days: bool = True,
    labels: bool = False,
) -> dict[tuple[Any, ...], list[int]]:
    """Sum total, unique, messages per group over the range, merging hour and day rows.

    labels: the groups are label columns, so the labelled rows must be read."""
    out: dict[tuple[Any, ...], list[int]] = {}
    where = terms(session, f, dimension, labels)
    for span, start, stop in spans(f.from_ms, f.to_ms, days):
        query = select(*group, func.sum(R.total), func.sum(R.unique), func.sum(R.messages))
        query = query.where(*where, R.span == span, R.bucket >= start, R.bucket < stop)
        for row in session.execute(query.group_by(*group) if group else query):
            counts = out.setdefault(tuple(row[: len(group)]), [0, 0, 0])
            for i in range(3):
                counts[i] += int(row[len(group) + i] or 0)
    return out


def overview(session: Session, f: ClickFilter) -> Overview:
    by_bot = summed(session, f.with_bots("include"), "all", [R.is_bot])
    human = by_bot.get((False,), [0, 0, 0])
    bot = by_bot.get((True,), [0, 0, 0])
    chosen = {"exclude": human, "only": bot}.get(
        f.bots, [h + b for h, b in zip(human, bot, strict=True)]
    )
    sent = summed(session, f.with_bots("include"), "sent", []).get((), [0, 0, 0])[0]
    excluded = bot[0] if f.bots == "exclude" else 0
    return Overview(chosen[0], chosen[1], chosen[2], bot[0], excluded, sent)


def breakdown(
    session: Session, f: ClickFilter, dimension: str, limit: int, detail: bool = False
) -> list[Row]:
    """Rows sorted by total, then unique (both descending), then key (code points)."""
    if dimension in LABELS:
        counts = summed(session, f, "all", [LABELS[dimension]], labels=True)
        if dimension == "tag":
            counts = split_tags(counts)
        rows = [Row(k[0], c[0], c[1]) for k, c in counts.items()]
    elif dimension == "country" and detail:
        counts = summed(session, f, "city", [R.value])
        places = {k: k[0].split(SEP) for k in counts}
        rows = [Row(places[k][0], c[0], c[1], *places[k][1:]) for k, c in counts.items()]
    else:
        counts = summed(session, f, dimension, [R.value])
        rows = [Row(k[0], c[0], c[1]) for k, c in counts.items()]
    rows = [r for r in rows if r.total or r.unique]
    rows.sort(key=lambda r: (-r.total, -r.unique, r.key, r.region or "", r.city or ""))
    return rows[:limit]


def split_tags(counts: dict[tuple[Any, ...], list[int]]) -> dict[tuple[Any, ...], list[int]]:
    """A click counts once under each of its tags; untagged clicks count under ""."""
    out: dict[tuple[Any, ...], list[int]] = {}
    for (text,), c in counts.items():
        for tag in set(_list(text)) or {""}:
            into = out.setdefault((tag,), [0, 0, 0])
            for i in range(3):
                into[i] += c[i]
    return out


def per_bucket(session: Session, f: ClickFilter, edges: list[int]) -> list[list[int]]:
    """[total, unique] per bucket between consecutive edges (whole hours, a day or so
    apart: local days), mostly from day rows.

    With C(t) the clicks in [from, t) and m the UTC midnight nearest t, C(t) is the day
    rows before m plus the hour rows in [m, t), or minus those in [t, m): at most 12 hour
    rows per edge instead of 24 per day. A bucket is C(its end) - C(its start).
    """
    cuts = [max(f.from_ms, min(e, f.to_ms)) for e in edges]
    mids = [(c + DAY_MS // 2) // DAY_MS * DAY_MS for c in cuts]
    last = len(cuts) - 2  # index of the last bucket
    weights: dict[tuple[str, int], list[tuple[int, int]]] = {}  # row -> (bucket, sign)
    for i in range(last + 1):
        for day in range(mids[i], mids[i + 1], DAY_MS):
            weights.setdefault(("d", day), []).append((i, 1))
    for j, (cut, mid) in enumerate(zip(cuts, mids, strict=True)):
        sign = 1 if cut > mid else -1
        for hour in range(min(cut, mid), max(cut, mid), HOUR_MS):
            held = weights.setdefault(("h", hour), [])
            if j > 0:
                held.append((j - 1, sign))  # + C(cut) in the bucket it ends
            if j <= last:
                held.append((j, -sign))  # - C(cut) in the bucket it starts
    out = [[0, 0] for _ in range(last + 1)]
    if not weights:
        return out
    hours = [bucket for span, bucket in weights if span == "h"]
    rows = R.span == "d", R.bucket >= mids[0], R.bucket < mids[-1]
    where = [and_(*rows)] + ([and_(R.span == "h", R.bucket.in_(hours))] if hours else [])
    query = select(R.span, R.bucket, func.sum(R.total), func.sum(R.unique))
    query = query.where(*terms(session, f, "all"), or_(*where)).group_by(R.span, R.bucket)
    for span, bucket, total, unique in session.execute(query):
        for index, sign in weights.get((span, int(bucket)), ()):
            out[index][0] += sign * int(total or 0)
            out[index][1] += sign * int(unique or 0)
    return out


def counted(session: Session, f: ClickFilter, days: bool) -> list[tuple[int, int, int]]:
    """(bucket start, total, unique) per rollup row group; day rows only when `days`."""
    out = summed(session, f, "all", [R.bucket], days)
    return [(int(k[0]), c[0], c[1]) for k, c in out.items()]
