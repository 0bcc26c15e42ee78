"""Known clicks for the statistics tests, and a plain-Python reference for every statistic."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from control.db.models import Click

# 2026-03-27T00:00Z: Europe/Berlin springs forward on 2026-03-29 at 01:00 UTC.
T0 = 1_774_569_600_000
HOUR = 3_600_000
TAGS = ["news", "newsletter", 'a"b', "ünï", "x,y"]
HOSTS = ["click.acme.test", "links.acme.test"]
URLS = ["https://a.example/", "https://b.example/p?q=1", "https://c.example/"]
BROWSERS = [("Chrome", "Windows", "Desktop"), ("Safari", "iOS", "Mobile"), ("", "", "Unknown")]
GEO = [("DE", "BE", "Berlin"), ("DE", "BY", "Munich"), ("US", "", ""), ("", "", "")]


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
    )


def insert(session: Session, specs: Iterable[Spec]) -> None:
    session.add_all([row(s) for s in specs])


@dataclass(frozen=True)
class Sel:
    tenant_id: int
    from_ms: int
    to_ms: int
    tag: str | None = None
    domain: str | None = None
    bots: str = "exclude"


def select(specs: list[Spec], q: Sel) -> list[Spec]:
    def keep(s: Spec) -> bool:
        return (
            s.tenant_id == q.tenant_id
            and q.from_ms <= s.time_ms < q.to_ms
            and (q.tag is None or q.tag in s.tags)
            and (q.domain is None or s.host == q.domain)
            and (q.bots == "include" or s.is_bot == (q.bots == "only"))
        )

    return sorted((s for s in specs if keep(s)), key=lambda s: (s.time_ms, s.id))


def firsts(chosen: list[Spec]) -> set[int]:
    seen: dict[tuple[str, str, int, str], int] = {}
    for s in chosen:
        seen.setdefault(s.link(), s.id)
    return set(seen.values())


def overview(specs: list[Spec], q: Sel) -> dict[str, int]:
    chosen = select(specs, q)
    bots = len(select(specs, Sel(q.tenant_id, q.from_ms, q.to_ms, q.tag, q.domain, "only")))
    return {
        "total_clicks": len(chosen),
        "unique_clicks": len(firsts(chosen)),
        "unique_messages": len({s.message_id for s in chosen if s.message_id}),
        "bot_clicks": bots,
        "bots_excluded": bots if q.bots == "exclude" else 0,
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
    first = firsts(chosen)
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
    first = firsts(chosen)
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
