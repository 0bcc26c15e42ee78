"""What a rollup needs to know about one click, from an ingest row or a stored click."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from control.db.models import Click, Message

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
SEP = "\x1f"  # never in a stored value: PostgreSQL text has no control separators here
_encode = msgspec.json.Encoder().encode
_CHUNK = 500
# A dimension's label-free twin ("browser~"): the same counts without stream, domain and
# tags in the key, so the common unfiltered query reads a row per value, not per mix.
UNLABELLED = "~"
# Dimensions a click is counted under, besides 'all' (see stats_models.ClickRollup).
DIMENSIONS = ("browser", "platform", "os", "email_client", "country", "city", "link", "location")


class Fact(NamedTuple):
    click_id: str
    tenant_id: int
    time_ms: int
    message_id: str
    link_index: int
    location: str
    url: str
    host: str
    tags: str  # JSON list text, as msgspec encodes it
    is_bot: bool
    browser: str
    platform: str
    os: str
    email_client: str
    country: str
    region: str
    city: str
    stream: str

    def link(self) -> str:
        """The message link's key: the same (location, index, URL) is the same link."""
        return md5(f"{self.location}{SEP}{self.link_index}{SEP}{self.url}")

    def values(self) -> Iterable[tuple[str, str]]:
        """(dimension, value) pairs this click is counted under."""
        yield "all", ""
        yield "browser", self.browser
        yield "platform", self.platform
        yield "os", self.os
        yield "email_client", self.email_client
        yield "country", self.country
        yield "city", SEP.join((self.country, self.region, self.city))
        yield "link", self.url
        yield "location", self.location


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@functools.lru_cache(maxsize=65_536)  # ingest sees the same few label mixes over and over
def rollup_key(stream: str, domain: str, tags: str, value: str) -> str:
    """The same text PostgreSQL's md5() sees in control.rollups.rebuild."""
    return md5(SEP.join((stream, domain, tags, value)))


def tags_text(tags: Any) -> str:
    return tags if isinstance(tags, str) else _encode(list(tags or [])).decode()


def from_row(row: Sequence[Any], stream: str, is_bot: bool) -> Fact:
    """From an ingest row (store.CLICK_COLUMNS order)."""
    return Fact(
        row[0], row[1], row[3], row[10], row[11], row[12], row[9], row[8], tags_text(row[13]),
        is_bot, row[21], row[26], row[23], row[27], row[28], row[29], row[30], stream,
    )  # fmt: skip


FACT_COLUMNS = (
    Click.click_id, Click.tenant_id, Click.time_ms, Click.message_id, Click.link_index,
    Click.location, Click.url, Click.host, Click.tags, Click.is_bot, Click.browser,
    Click.platform, Click.os, Click.email_client, Click.country, Click.region, Click.city,
    Click.stream,
)  # fmt: skip


def stored_facts(session: Session, click_ids: Iterable[str]) -> list[Fact]:
    """Facts of stored clicks, as they are now (bot flags included)."""
    ids = sorted(set(click_ids))
    rows: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows += session.execute(select(*FACT_COLUMNS).where(Click.click_id.in_(chunk))).all()
    return [Fact._make((*r[:8], tags_text(r[8]), bool(r[9]), *r[10:])) for r in rows]


def streams_of(session: Session, messages: set[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """Each message's stream from its record; clicks of unrecorded messages have none ('').

    Looked up once at ingest and stored with each click (tokens do not carry the stream).
    """
    wanted = {m for m in messages if m[1]}
    found: dict[tuple[int, str], str] = {}
    ids = sorted({m[1] for m in wanted})
    tenants = {m[0] for m in wanted}
    for start in range(0, len(ids), _CHUNK):
        query = select(Message.tenant_id, Message.message_id, Message.stream).where(
            Message.tenant_id.in_(tenants), Message.message_id.in_(ids[start : start + _CHUNK])
        )
        for tenant_id, message_id, stream in session.execute(query):
            if (tenant_id, message_id) in wanted:
                found[(tenant_id, message_id)] = stream
    return found
