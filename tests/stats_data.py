"""Known clicks for the statistics tests, and a plain-Python reference for every statistic."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.orm import Session

from control.db.models import Click, Tenant
from control.messages import record_message
from control.rollups.roll import roll_new_clicks
from control.store import CLICK_COLUMNS

# 2026-03-27T00:00Z: Europe/Berlin springs forward on 2026-03-29 at 01:00 UTC.
T0 = 1_774_569_600_000
HOUR = 3_600_000
TAGS = ["news", "newsletter", 'a"b', "ünï", "x,y"]
HOSTS = ["click.acme.test", "links.acme.test"]
URLS = ["https://a.example/", "https://b.example/p?q=1", "https://c.example/"]
BROWSERS = [("Chrome", "Windows", "Desktop"), ("Safari", "iOS", "Mobile"), ("", "", "Unknown")]
GEO = [("DE", "BE", "Berlin"), ("DE", "BY", "Munich"), ("US", "", ""), ("", "", "")]
# Message records: m4's clicks (and clicks without a message id) have no stream.
STREAMS = {"m1": "outbound", "m2": "outbound", "m3": "broadcast"}
MESSAGE_TAGS = {"m1": ["news"], "m2": [], "m3": ["news", "x,y"]}


@dataclass(frozen=True)
class Sent:
    tenant_id: int
    message_id: str
    stream: str
    domain: str
    tags: list[str]
    created_ms: int


def sent(tenants: tuple[int, int]) -> list[Sent]:
    """m1 to m3 of each tenant, recorded at hours 0, 30 and 60 (m3 on the other domain)."""
    return [
        Sent(t, m, STREAMS[m], HOSTS[m == "m3"], MESSAGE_TAGS[m], T0 + 30 * HOUR * n)
        for t in tenants
        for n, m in enumerate(STREAMS)
    ]


@dataclass(frozen=True)
class Spec:
    id: int
    tenant_id: int
    time_ms: int
    message_id: str
    link_index: int
    location: str
    url: str
    host: str
    tags: list[str] = field(default_factory=list)
    browser: tuple[str, str, str] = ("Chrome", "Windows", "Desktop")
    geo: tuple[str, str, str] = ("DE", "BE", "Berlin")
    is_bot: bool = False

    def link(self) -> tuple[str, str, int, str]:
        return (self.message_id, self.location, self.link_index, self.url)

    def stream(self) -> str:
        return STREAMS.get(self.message_id, "")


def generate(tenants: tuple[int, int], count: int = 400, seed: int = 7) -> list[Spec]:
    """Clicks over four days around a DST change, with tied times, bots and odd tags."""
    rng = random.Random(seed)
    specs = []
    for n in range(count):
        index = rng.randrange(3)
        time_ms = T0 + rng.randrange(4 * 24) * HOUR + rng.choice([0, 0, 1, 59_999, 1_799_999])
        specs.append(
            Spec(
                id=n + 1,
                tenant_id=tenants[n % 7 == 0],
                time_ms=time_ms,
                message_id=rng.choice(["m1", "m2", "m3", "m4", ""]),
                link_index=index,
                location=rng.choice(["html", "text"]),
                url=URLS[index],
                host=rng.choice(HOSTS),
                tags=rng.sample(TAGS, rng.randrange(3)),
                browser=rng.choice(BROWSERS),
                geo=rng.choice(GEO),
                is_bot=rng.random() < 0.2,
            )
        )
    return specs


def row(s: Spec) -> Click:
    browser, os_name, platform = s.browser
    country, region, city = s.geo
    return Click(
        id=s.id,
        click_id=f"{s.id:032x}",
        tenant_id=s.tenant_id,
        key_id=1,
        time_ms=s.time_ms,
        received_ms=s.time_ms,
        edge_id="edge-1",
        status=302,
        method="GET",
        host=s.host,
        url=s.url,
        message_id=s.message_id,
        link_index=s.link_index,
        location=s.location,
        tags=list(s.tags),
        sent_at=0,
        recipient="",
        ip="192.0.2.0",
        user_agent="UA",
        referer="",
        accept_language="",
        purpose="",
        browser=browser,
        browser_version="",
        os=os_name,
        os_version="",
        device="",
        platform=platform,
        email_client="",
        country=country,
        region=region,
        city=city,
        asn=0,
        as_org="",
        is_bot=s.is_bot,
        bot_reasons=["known_bot_ua"] if s.is_bot else [],
        bot_confidence=0.9 if s.is_bot else 0,
        stream=s.stream(),  # what ingest finds in the message record (see record())
    )


def as_row(s: Spec) -> tuple[object, ...]:
    """The click as ingest builds it (store.CLICK_COLUMNS order, JSON as text)."""
    click = row(s)
    values = {name: getattr(click, name) for name in CLICK_COLUMNS}
    values["tags"] = msgspec.json.encode(list(s.tags)).decode()
    values["bot_reasons"] = msgspec.json.encode(values["bot_reasons"]).decode()
    return tuple(values[name] for name in CLICK_COLUMNS)


def insert(session: Session, specs: Iterable[Spec], flipped: set[str] | None = None) -> None:
    """Store the clicks (ids as given) and roll them up the way ingest does."""
    specs = list(specs)
    session.add_all([row(s) for s in specs])
    session.flush()
    roll_new_clicks(session, [as_row(s) for s in specs], flipped or set())


def record(session: Session, messages: Iterable[Sent]) -> None:
    messages = list(messages)
    for tenant_id in sorted({m.tenant_id for m in messages}):
        if session.get(Tenant, tenant_id) is None:
            session.add(Tenant(id=tenant_id, name=f"tenant-{tenant_id}", created_ms=0))
    session.flush()
    for m in messages:
        record_message(
            session, m.tenant_id, m.message_id, m.stream, m.tags, 1, m.created_ms, m.domain
        )


@dataclass(frozen=True)
class Sel:
    tenant_id: int
    from_ms: int
    to_ms: int
    tag: str | None = None
    domain: str | None = None
    bots: str = "exclude"
    stream: str | None = None


def select(specs: list[Spec], q: Sel) -> list[Spec]:
    def keep(s: Spec) -> bool:
        return (
            s.tenant_id == q.tenant_id
            and q.from_ms <= s.time_ms < q.to_ms
            and (q.tag is None or q.tag in s.tags)
            and (q.domain is None or s.host == q.domain)
            and (q.stream is None or s.stream() == q.stream)
            and (q.bots == "include" or s.is_bot == (q.bots == "only"))
        )

    return sorted((s for s in specs if keep(s)), key=lambda s: (s.time_ms, s.id))


def firsts(specs: list[Spec], by_message: bool = False) -> set[int]:
    """Ids of the first human click (time, then id) of every link, or of every message."""
    seen: dict[object, int] = {}
    for s in sorted(specs, key=lambda s: (s.time_ms, s.id)):
        if not s.is_bot and (s.message_id or not by_message):
            key = (s.tenant_id, s.message_id) if by_message else (s.tenant_id, *s.link())
            seen.setdefault(key, s.id)
    return set(seen.values())


def overview(specs: list[Spec], q: Sel, messages: list[Sent] | None = None) -> dict[str, int]:
    chosen = select(specs, q)
    bots = select(specs, Sel(q.tenant_id, q.from_ms, q.to_ms, q.tag, q.domain, "only", q.stream))
    return {
        "total_clicks": len(chosen),
        "unique_clicks": sum(s.id in firsts(specs) for s in chosen),
        "unique_messages": sum(s.id in firsts(specs, by_message=True) for s in chosen),
        "bot_clicks": len(bots),
        "bots_excluded": len(bots) if q.bots == "exclude" else 0,
        "messages_sent": sum(
            m.tenant_id == q.tenant_id
            and q.from_ms <= m.created_ms < q.to_ms
            and (q.tag is None or q.tag in m.tags)
            and (q.domain is None or m.domain == q.domain)
            and (q.stream is None or m.stream == q.stream)
            for m in messages or []
        ),
    }


def keys_of(s: Spec, dimension: str, detail: bool) -> list[tuple[str, ...]]:
    simple = {
        "browser": s.browser[0],
        "os": s.browser[1],
        "platform": s.browser[2],
        "email_client": "",
        "link": s.url,
        "location": s.location,
        "domain": s.host,
        "stream": s.stream(),
    }
    if dimension == "tag":
        return [(t,) for t in sorted(set(s.tags))] or [("",)]
    if dimension == "country":
        return [s.geo if detail else (s.geo[0],)]
    return [(simple[dimension],)]


def breakdown(
    specs: list[Spec], q: Sel, dimension: str, detail: bool = False
) -> list[tuple[tuple[str, ...], int, int]]:
    chosen = select(specs, q)
    first = firsts(specs)
    counts: dict[tuple[str, ...], list[int]] = {}
    for s in chosen:
        for key in keys_of(s, dimension, detail):
            c = counts.setdefault(key, [0, 0])
            c[0] += 1
            c[1] += s.id in first
    rows = [(k, t, u) for k, (t, u) in counts.items()]
    return sorted(rows, key=lambda r: (-r[1], -r[2], r[0]))


def buckets(specs: list[Spec], q: Sel, tz: ZoneInfo, interval: str) -> dict[str, list[int]]:
    """Non-empty buckets by their local start (RFC 3339 with offset)."""
    chosen = select(specs, q)
    first = firsts(specs)
    out: dict[str, list[int]] = {}
    for s in chosen:
        when = dt.datetime.fromtimestamp(s.time_ms / 1000, tz)
        if interval == "hour":
            start = when.replace(minute=0, second=0, microsecond=0)
        else:
            start = dt.datetime.combine(when.date(), dt.time(0), tzinfo=tz)
        c = out.setdefault(start.isoformat(), [0, 0])
        c[0] += 1
        c[1] += s.id in first
    return out
