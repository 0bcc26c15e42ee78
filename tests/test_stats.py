"""Every statistic from known clicks, compared exactly with a plain-Python reference."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from control.db.engine import make_engine, make_sessionmaker
from control.db.migrate import upgrade
from control.stats import aggregate, answer, message, raw, rolled, series
from control.stats.filters import ClickFilter
from control.stats.params import ParamError, parse_range, parse_tz
from tests import stats_data as data
from tests.stats_data import HOUR, T0, Sel

A, B = 1, 2
SPECS = data.generate((A, B))
SENT = data.sent((A, B))
WHOLE = Sel(A, T0 - HOUR, T0 + 5 * 24 * HOUR)
SELECTIONS = [
    WHOLE,
    Sel(A, T0 + 30 * HOUR, T0 + 50 * HOUR + 1),
    Sel(A, WHOLE.from_ms, WHOLE.to_ms, bots="include"),
    Sel(A, WHOLE.from_ms, WHOLE.to_ms, bots="only"),
    Sel(A, WHOLE.from_ms, WHOLE.to_ms, tag="news"),
    Sel(A, WHOLE.from_ms, WHOLE.to_ms, tag='a"b', bots="include"),
    Sel(A, WHOLE.from_ms, WHOLE.to_ms, tag="ünï", domain="links.acme.test"),
    Sel(A, WHOLE.from_ms, WHOLE.to_ms, tag="new"),  # a prefix of two tags, but no tag
    Sel(A, WHOLE.from_ms, WHOLE.to_ms, stream="outbound"),
    Sel(A, T0 + 24 * HOUR, T0 + 60 * HOUR, stream="broadcast", bots="include"),
    Sel(A, T0 + 3 * HOUR, T0 + 71 * HOUR, tag="news", domain="click.acme.test"),
    # Whole UTC days: filtered breakdowns come from the labelled day rows.
    Sel(A, T0, T0 + 4 * 24 * HOUR, tag="news"),
    Sel(A, T0 + 24 * HOUR, T0 + 72 * HOUR, stream="outbound", domain="click.acme.test"),
    Sel(B, WHOLE.from_ms, WHOLE.to_ms),
]
DAYS_NEWS = SELECTIONS[-3]


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        data.record(session, SENT)
        data.insert(session, SPECS)
    yield factory
    engine.dispose()


# Raw clicks, and the rollups wherever they cover the range (raw otherwise).
SOURCES = [aggregate, answer]


def flt(q: Sel) -> ClickFilter:
    return ClickFilter(q.tenant_id, q.from_ms, q.to_ms, q.tag, q.domain, q.bots, q.stream)  # type: ignore[arg-type]


def test_rollups_cover_whole_hours_only() -> None:
    assert rolled.covers(flt(WHOLE))
    assert not rolled.covers(flt(SELECTIONS[1]))


def test_filtered_breakdowns_need_whole_days() -> None:
    """Labelled rows of dimensions other than 'all' are kept per UTC day only."""
    hours_news = flt(SELECTIONS[4])
    assert rolled.covers(hours_news) and rolled.covers(hours_news, "tag")
    assert not rolled.covers(hours_news, "browser")
    assert rolled.covers(flt(DAYS_NEWS), "browser")
    assert rolled.covers(flt(WHOLE), "browser")  # unfiltered: the label-free hour rows


@pytest.mark.parametrize("source", SOURCES)
def test_overview_matches_the_reference(sessions: sessionmaker[Session], source: Any) -> None:
    with sessions() as session:
        for q in SELECTIONS:
            o = source.overview(session, flt(q))
            got = {
                "total_clicks": o.total,
                "unique_clicks": o.unique,
                "unique_messages": o.messages,
                "bot_clicks": o.bot_clicks,
                "bots_excluded": o.bots_excluded,
                "messages_sent": o.sent,
            }
            assert got == data.overview(SPECS, q, SENT), q
    assert data.overview(SPECS, WHOLE)["total_clicks"] > 100  # the data really is there


def test_a_small_case_by_hand(sessions: sessionmaker[Session]) -> None:
    """Two humans and a bot on one link, ties broken by id: numbers a person can check."""
    spec = data.Spec(0, 9, T0, "mx", 0, "html", "https://a.example/", "h.test", ["t"])
    specs = [
        spec,
        data.Spec(1000, 9, T0, "mx", 0, "html", "https://a.example/", "h.test", ["t", "u"]),
        data.Spec(
            1001, 9, T0 + 1, "mx", 1, "text", "https://b.example/", "h.test", [], is_bot=True
        ),
        data.Spec(1002, 9, T0 + 2, "", 0, "html", "https://a.example/", "h.test", []),
    ]
    with sessions.begin() as session:
        data.insert(session, [*specs[1:], data.Spec(**{**spec.__dict__, "id": 999})])
    with sessions() as session:
        f = ClickFilter(9, T0, T0 + HOUR)
        o = aggregate.overview(session, f)
        assert (o.total, o.unique, o.messages, o.bot_clicks, o.bots_excluded) == (3, 2, 1, 1, 1)
        tags = aggregate.breakdown(session, f, "tag", 10)
        assert [(r.key, r.total, r.unique) for r in tags] == [("t", 2, 1), ("", 1, 1), ("u", 1, 0)]
        o = aggregate.overview(session, f.with_bots("include"))
        assert (o.total, o.unique, o.bots_excluded) == (4, 2, 0)  # a bot is never unique
        assert answer.overview(session, f.with_bots("include")) == o


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("dimension", aggregate.DIMENSIONS)
def test_breakdowns_match_the_reference(
    sessions: sessionmaker[Session], dimension: str, source: Any
) -> None:
    with sessions() as session:
        for q in SELECTIONS:
            rows = source.breakdown(session, flt(q), dimension, 1000)
            got = [((r.key,), r.total, r.unique) for r in rows]
            assert got == data.breakdown(SPECS, q, dimension), (q, dimension)
            assert sum(r.unique for r in rows) >= data.overview(SPECS, q)["unique_clicks"]
            top = source.breakdown(session, flt(q), dimension, 2)
            assert top == rows[:2]


@pytest.mark.parametrize("source", SOURCES)
def test_country_detail_has_region_and_city(sessions: sessionmaker[Session], source: Any) -> None:
    with sessions() as session:
        rows = source.breakdown(session, flt(WHOLE), "country", 1000, detail=True)
    got = [((r.key, r.region, r.city), r.total, r.unique) for r in rows]
    assert got == data.breakdown(SPECS, WHOLE, "country", detail=True)
    assert ("DE", "BY", "Munich") in {g[0] for g in got}


@pytest.mark.parametrize(
    "tz_name",
    [
        "UTC",
        "Europe/Berlin",
        "Asia/Kolkata",
        "America/St_Johns",
        "America/Los_Angeles",
        "Pacific/Auckland",
    ],
)
@pytest.mark.parametrize("interval", ["hour", "day"])
def test_timeseries_buckets_in_the_callers_zone(
    sessions: sessionmaker[Session], tz_name: str, interval: series.Interval
) -> None:
    tz = ZoneInfo(tz_name)
    with sessions() as session:
        for q in SELECTIONS:
            got = series.timeseries(session, flt(q), tz, interval)
            nonempty = {b.start: [b.total, b.unique] for b in got if b.total}
            assert nonempty == data.buckets(SPECS, q, tz, interval), (q, tz_name)
            assert got[0].start_ms <= q.from_ms < got[-1].start_ms + 25 * HOUR
            assert all(a.start_ms < b.start_ms for a, b in itertools.pairwise(got))


def test_days_across_dst_are_23_and_25_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = series.boundaries(T0, T0 + 3 * 24 * HOUR, berlin, "day")
    assert [b - a for a, b in itertools.pairwise(spring)][:3] == [
        24 * HOUR,
        24 * HOUR,
        23 * HOUR,
    ]
    autumn_start = 1_792_886_400_000  # 2026-10-25T00:00Z; clocks go back at 01:00Z
    hours = series.boundaries(autumn_start, autumn_start + 3 * 24 * HOUR, berlin, "hour")
    labels = [series.local(b, berlin).isoformat() for b in hours]
    assert "2026-10-25T02:00:00+02:00" in labels and "2026-10-25T02:00:00+01:00" in labels
    days = series.boundaries(autumn_start, autumn_start + 3 * 24 * HOUR, berlin, "day")
    assert days[1] - days[0] == 25 * HOUR


def test_too_many_buckets_is_a_param_error() -> None:
    with pytest.raises(ParamError):
        series.boundaries(0, 2000 * 24 * HOUR, ZoneInfo("UTC"), "hour")


def test_raw_pages_walk_every_click_once_in_order(sessions: sessionmaker[Session]) -> None:
    q = Sel(A, WHOLE.from_ms, WHOLE.to_ms, bots="include")
    expected = [s.id for s in data.select(SPECS, q)]
    seen: list[int] = []
    cursor: str | None = None
    with sessions() as session:
        while True:
            after = raw.decode_cursor(cursor) if cursor else None
            rows, cursor = raw.page(session, flt(q), after, 7)
            seen += [r.id for r in rows]
            if cursor is None:
                break
    assert seen == expected
    batches = [r.id for rows in raw.batches(sessions, flt(q)) for r in rows]
    assert batches == expected


def _cursor(*parts: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "xyz",
        "bm90IGpzb24",
        "WzIsMSwxXQ",
        "WzEsMV0",
        _cursor(1, 2**63, 1),  # beyond what any row holds: refused before the database
        _cursor(1, 1, -(2**63) - 1),
    ],
)
def test_foreign_cursors_are_refused(bad: str) -> None:
    with pytest.raises(ParamError):
        raw.decode_cursor(bad)


def test_message_link_summaries(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        links = message.link_summaries(session, A, "m2")
    mine = [s for s in SPECS if s.tenant_id == A and s.message_id == "m2"]
    assert sum(link.total for link in links) == len(mine)
    assert sum(link.bots for link in links) == sum(s.is_bot for s in mine)
    for link in links:
        clicks = [s for s in mine if s.link() == ("m2", link.location, link.link_index, link.url)]
        assert link.unique == int(any(not s.is_bot for s in clicks))
        assert (link.first_ms, link.last_ms) == (
            min(s.time_ms for s in clicks),
            max(s.time_ms for s in clicks),
        )


@pytest.mark.parametrize(
    ("start", "stop", "tz", "expected"),
    [
        ("2026-03-29", "2026-03-29", "Europe/Berlin", (1_774_738_800_000, 1_774_821_600_000)),
        (
            "2026-03-29T00:00:00Z",
            "2026-03-30T00:00:00+02:00",
            "UTC",
            (1_774_742_400_000, 1_774_821_600_000),
        ),
        (None, None, "UTC", (1_000_000_800_000 - 30 * 86_400_000, 1_000_000_800_000)),
        # RFC 3339 allows a lowercase t and z and a space; seconds may be left out.
        (
            "2026-03-29t00:00:00z",
            "2026-03-30 00:00+02:00",
            "UTC",
            (1_774_742_400_000, 1_774_821_600_000),
        ),
    ],
)
def test_ranges(start: str | None, stop: str | None, tz: str, expected: tuple[int, int]) -> None:
    assert parse_range(start, stop, parse_tz(tz), 1_000_000_000_000) == expected


@pytest.mark.parametrize(
    ("start", "stop", "tz", "named"),
    [
        ("2026-13-01", None, "UTC", "from"),
        ("yesterday", None, "UTC", "from"),
        ("2026-03-29T00:00:00", None, "UTC", "from"),
        ("2026-03-30", "2026-03-29", "UTC", "from"),
        ("1900-01-01", None, "UTC", "from"),
        (None, "9999-12-31", "UTC", "to"),
        (None, "1969-12-31", "UTC", "to"),  # the `from` left out is not the one to blame
        (None, "1969-12-31T23:00:00Z", "UTC", "to"),
        (None, None, "Mars/Olympus", "tz"),
        (None, None, "../etc/passwd", "tz"),
        (None, None, "right/Europe/Paris", "tz"),  # counts leap seconds: 27 s off
        (None, None, "posix/Europe/Paris", "tz"),
        (None, None, "Factory", "tz"),
        (None, None, "localtime", "tz"),
        (None, None, "", "tz"),
    ],
)
def test_bad_ranges_name_the_parameter(
    start: str | None, stop: str | None, tz: str, named: str
) -> None:
    with pytest.raises(ParamError) as caught:
        parse_range(start, stop, parse_tz(tz or "x/"), 1_000_000_000_000)
    assert caught.value.name == named


def test_a_range_ending_early_in_1970_starts_at_1970() -> None:
    assert parse_range(None, "1970-01-02", parse_tz("UTC"), 1_000_000_000_000) == (
        0,
        2 * 86_400_000,
    )


def test_odd_historic_offsets_bucket_each_click(sessions: sessionmaker[Session]) -> None:
    """Monrovia was UTC-0:44:30 until 1972: local days start off the 15-minute slots."""
    monrovia = ZoneInfo("Africa/Monrovia")
    base = 31_536_000_000  # 1971-01-01T00:00Z
    times = [base + 44 * 60_000, base + 45 * 60_000, base + 46 * 60_000, base + 30 * HOUR]
    specs = [
        data.Spec(5000 + n, 9, t, "m", 0, "html", "https://a.example/", "h.test")
        for n, t in enumerate(times)
    ]
    with sessions.begin() as session:
        data.insert(session, specs)
    q = Sel(9, base, base + 3 * 24 * HOUR)
    with sessions() as session:
        got = series.timeseries(session, flt(q), monrovia, "day")
    assert got[0].start == "1970-12-31T00:00:00-00:44:30"
    assert {b.start: [b.total, b.unique] for b in got if b.total} == data.buckets(
        specs, q, monrovia, "day"
    )
    assert [b.total for b in got[:3]] == [1, 2, 1]


def test_a_millisecond_instant_is_read_exactly() -> None:
    utc = parse_tz("UTC")
    start, stop = parse_range("2038-11-21T09:51:51.944Z", "2038-11-21T09:51:51.945Z", utc, 0)
    assert (start, stop) == (2173945911944, 2173945911945)  # the float path gave ...943
    start, _ = parse_range("2004-09-23T21:19:40.590Z", "2004-09-24", utc, 0)
    assert start == 1095974380590
