"""Rollups kept at ingest stay exact: bursts, duplicates, late earlier clicks, rebuilds."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from control.db.engine import make_engine, make_sessionmaker
from control.db.migrate import upgrade
from control.db.models import Click
from control.ingest import store_new
from control.messages import record_message
from control.rollups.rebuild import rebuild
from control.stats import aggregate, rolled
from control.stats.filters import ClickFilter
from tests import stats_data as data
from tests.stats_data import HOUR, T0, Sel, Spec

T = 5
URL = "https://a.example/"
WHOLE = ClickFilter(T, T0 - HOUR, T0 + 5 * 24 * HOUR)
DIMS = ("browser", "link", "location", "tag", "domain", "stream", "country")


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        data.record(session, data.sent((T, T + 1)))
    yield factory
    engine.dispose()


def spec(n: int, ms: int, link: int = 0, message: str = "m1", bot: bool = False) -> Spec:
    return Spec(
        n,
        T,
        T0 + ms,
        message,
        link,
        "html",
        f"{URL}{link}",
        "click.acme.test",
        ["news"],
        is_bot=bot,
    )


def ingest(sessions: sessionmaker[Session], specs: list[Spec], recipient: str = "r1") -> int:
    rows = [data.as_row(s) for s in specs]
    recipient_at = 15  # store.CLICK_COLUMNS.index("recipient")
    rows = [(*r[:recipient_at], recipient, *r[recipient_at + 1 :]) for r in rows]
    with sessions.begin() as session:
        return store_new(session, rows)


def stored(sessions: sessionmaker[Session]) -> list[Spec]:
    """The clicks as stored now (bot flags after bursts), for the reference."""
    with sessions() as session:
        rows = session.execute(select(Click.click_id, Click.is_bot)).all()
    bots = {int(cid, 16): bool(bot) for cid, bot in rows}
    return [dataclasses.replace(s, is_bot=bots[s.id]) for s in ALL if s.id in bots]


ALL: list[Spec] = []


def check(sessions: sessionmaker[Session]) -> None:
    """Rollups, raw clicks and the plain-Python reference agree on every statistic."""
    specs = stored(sessions)
    with sessions() as session:
        for bots in ("exclude", "include", "only"):
            f = WHOLE.with_bots(bots)
            q = Sel(T, f.from_ms, f.to_ms, bots=bots)
            ref = data.overview(specs, q, data.sent((T, T + 1)))
            o = rolled.overview(session, f)
            assert o == aggregate.overview(session, f)
            assert (o.total, o.unique, o.messages, o.bot_clicks, o.sent) == (
                ref["total_clicks"], ref["unique_clicks"], ref["unique_messages"],
                ref["bot_clicks"], ref["messages_sent"],
            )  # fmt: skip
            for dimension in DIMS:
                got = rolled.breakdown(session, f, dimension, 100)
                assert got == aggregate.breakdown(session, f, dimension, 100), dimension
                assert [((r.key,), r.total, r.unique) for r in got] == data.breakdown(
                    specs, q, dimension
                )


def test_duplicates_count_once(sessions: sessionmaker[Session]) -> None:
    ALL[:] = [spec(1, 0), spec(2, 60_000, 1), spec(3, 120_000, 0, "m2", bot=True)]
    assert ingest(sessions, [*ALL, ALL[0]]) == 3  # twice in one batch, too
    assert ingest(sessions, ALL) == 0
    assert ingest(sessions, [*ALL, *ALL]) == 0
    check(sessions)
    with sessions() as session:
        assert rolled.overview(session, WHOLE).total == 2


def test_an_earlier_click_arriving_late_takes_the_unique_over(
    sessions: sessionmaker[Session],
) -> None:
    ALL[:] = [spec(1, 5 * HOUR), spec(2, 2 * HOUR), spec(3, 30 * HOUR, 1, "m3")]
    ingest(sessions, ALL[:1])
    ingest(sessions, ALL[1:])  # click 2 is earlier than click 1, on the same link
    check(sessions)
    with sessions() as session:
        series_hours = rolled.counted(session, WHOLE, days=False)
    assert (T0 + 2 * HOUR, 1, 1) in series_hours and (T0 + 5 * HOUR, 1, 0) in series_hours


def test_a_burst_reclassifies_stored_clicks_and_passes_unique_on(
    sessions: sessionmaker[Session],
) -> None:
    """r1 clicks link 0 (first, human), then links 1 and 2 within a second: a burst; a
    later human click on link 0 (r2, an hour on) inherits the unique flag."""
    ALL[:] = [
        spec(1, 0, 0),
        spec(4, HOUR, 0),
        spec(2, 300, 1),
        spec(3, 600, 2),
    ]
    ingest(sessions, ALL[:1])
    ingest(sessions, ALL[1:2], recipient="r2")
    with sessions() as session:
        assert rolled.overview(session, WHOLE).unique == 1
    ingest(sessions, ALL[2:])
    specs = stored(sessions)
    assert [s.is_bot for s in specs] == [True, False, True, True]
    check(sessions)
    with sessions() as session:
        o = rolled.overview(session, WHOLE)
    assert (o.total, o.unique, o.messages, o.bot_clicks) == (1, 1, 1, 3)


def test_a_much_clicked_message_bursts_only_on_its_third_link(
    sessions: sessionmaker[Session],
) -> None:
    """Two links clicked over and over within seconds are no burst, however many clicks;
    a third link in the window is, and takes the earlier clicks around it along. A
    message in the same batch with one link clicked as often stays human."""
    hot = [spec(n, 50 * n, n % 2) for n in range(1, 41)]
    other = [spec(100 + n, 50 * n, 0, "m2") for n in range(1, 41)]
    ALL[:] = [*hot, *other, spec(200, 2100, 2)]
    ingest(sessions, hot + other)
    assert not any(s.is_bot for s in stored(sessions))
    ingest(sessions, ALL[-1:])
    bots = {s.id for s in stored(sessions) if s.is_bot}
    # The third link at 2.1 s: every click of m1 within 3 s of it (all of them) is in
    # the burst; m2 has one link only.
    assert bots == {s.id for s in [*hot, ALL[-1]]}
    check(sessions)


def test_readers_without_a_recipient_are_told_apart_by_address(
    sessions: sessionmaker[Session],
) -> None:
    """Links sent without a recipient (one newsletter id for everyone): three readers
    each clicking another link within two seconds are three people, not a burst; one
    address walking three links in a second is."""
    recipient_at, ip_at = 15, 16  # store.CLICK_COLUMNS
    readers = [(spec(1, 0, 0), "198.51.100.0"), (spec(2, 900, 1), "203.0.113.0")]
    readers += [(spec(3, 1800, 2), "192.0.2.0")]
    scanner = [(spec(10 + n, 5 * HOUR + 300 * n, n), "40.94.29.0") for n in range(3)]
    ALL[:] = [s for s, _ in readers + scanner]
    for clicks in (readers, scanner):
        rows = [data.as_row(s) for s, _ in clicks]
        rows = [
            (*r[:recipient_at], "", ip, *r[ip_at + 1 :])
            for r, (_, ip) in zip(rows, clicks, strict=True)
        ]
        with sessions.begin() as session:
            store_new(session, rows)
    bots = {s.id for s in stored(sessions) if s.is_bot}
    assert bots == {s.id for s, _ in scanner}
    check(sessions)


def test_rebuild_answers_like_ingest(sessions: sessionmaker[Session]) -> None:
    ALL[:] = [
        dataclasses.replace(s, tenant_id=T if s.tenant_id == 1 else T + 1)
        for s in data.generate((1, 2), count=150)
    ]
    for start in range(0, len(ALL), 40):
        ingest(sessions, ALL[start : start + 40], recipient=f"r{start}")
    check(sessions)
    with sessions() as session:
        before = [rolled.breakdown(session, WHOLE, d, 100) for d in DIMS]
        series = rolled.counted(session, WHOLE, days=True)
    with sessions.begin() as session:
        rebuild(session)
    check(sessions)
    with sessions() as session:
        assert [rolled.breakdown(session, WHOLE, d, 100) for d in DIMS] == before
        assert sorted(rolled.counted(session, WHOLE, days=True)) == sorted(series)


def test_a_message_rewritten_into_another_stream_moves_its_count_not_its_clicks(
    sessions: sessionmaker[Session],
) -> None:
    # m1 was recorded in "outbound" with tags ["news"] (the fixture). Two clicks, then
    # the sender rewrites m1 into "broadcast" with tags ["promo"], then one more click.
    ingest(sessions, [spec(1, 0), spec(2, HOUR)])
    with sessions.begin() as session:
        record_message(session, T, "m1", "broadcast", ["promo"], 1, T0 + 40 * HOUR)
    ingest(sessions, [spec(3, 2 * HOUR, link=1)])

    def answers() -> dict[tuple[str, str | None], tuple[int, int]]:
        """(stream, tag) -> (clicks, messages sent), the rollups and raw clicks agreeing."""
        found = {}
        with sessions() as session:
            for stream in ("outbound", "broadcast"):
                for tag in (None, "news", "promo"):
                    f = dataclasses.replace(WHOLE, stream=stream, tag=tag)
                    o = rolled.overview(session, f)
                    assert o == aggregate.overview(session, f), (stream, tag)
                    found[(stream, tag)] = (o.total, o.sent)
            for dimension in DIMS:
                rows = rolled.breakdown(session, WHOLE, dimension, 100)
                assert rows == aggregate.breakdown(session, WHOLE, dimension, 100), dimension
        return found

    expected = {
        # The clicks keep the stream they were stored with; their tags are the tokens'.
        ("outbound", None): (2, 1),  # m2 is still sent in "outbound"; m1 moved
        ("outbound", "news"): (2, 0),
        ("outbound", "promo"): (0, 0),
        ("broadcast", None): (1, 2),  # m3 and, now, m1
        ("broadcast", "news"): (1, 1),  # m3's tags hold "news"
        ("broadcast", "promo"): (0, 1),
    }
    assert answers() == expected
    with sessions.begin() as session:
        rebuild(session)
    assert answers() == expected


def test_a_message_rewritten_into_another_click_domain_moves_its_count(
    sessions: sessionmaker[Session],
) -> None:
    """Its messages_sent stayed under the first rewrite's domain, while the record said
    the new one (a rebuild then disagreed with what ingest had kept)."""
    with sessions.begin() as session:
        record_message(session, T, "m9", "outbound", [], 1, T0, "click.one.test")
        record_message(session, T, "m9", "outbound", [], 1, T0 + HOUR, "click.two.test")

    def sent() -> dict[str, int]:
        with sessions() as session:
            return {
                domain: rolled.overview(session, dataclasses.replace(WHOLE, domain=domain)).sent
                for domain in ("click.one.test", "click.two.test")
            }

    assert sent() == {"click.one.test": 0, "click.two.test": 1}
    with sessions.begin() as session:
        rebuild(session)
    assert sent() == {"click.one.test": 0, "click.two.test": 1}
