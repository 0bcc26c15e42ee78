"""At ingest: find bursts (one reader's links clicked within seconds) and mark them bots.

A reader is a message's recipient; for links sent without one (a campaign-wide message
id, no recipient), its click address stands in, or every reader of a newsletter who
clicked within the same seconds would make one burst. Runs in the ingest transaction for
newly inserted clicks only, so earlier clicks of a burst are reclassified when its later
clicks arrive. One query per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from control.db.bulk import any_of, fetch_all
from control.db.models import Click
from control.enrich import (
    BURST,
    DEFAULT_MIN_LINKS,
    DEFAULT_WINDOW_S,
    BurstClick,
    reclassify_bursts,
    verdict_of,
)

WINDOW_MS = int(DEFAULT_WINDOW_S * 1000)
_decode_reasons = msgspec.json.Decoder(list[str]).decode
GroupKey = tuple[int, str, str, str]  # tenant, message id, recipient, address if none
# The reader part of a group in SQL: the (stored, truncated) address when no recipient.
_READER = "CASE WHEN recipient = '' THEN ip ELSE '' END"


class Stored(NamedTuple):
    """A stored click of a group, as the burst check reads it."""

    click_id: str
    tenant_id: int
    message_id: str
    recipient: str
    ip: str
    time_ms: int
    location: str
    link_index: int
    url: str
    bot_reasons: Any  # JSON text (SQLite) or a list (PostgreSQL)
    is_bot: bool


def reclassify_new_clicks(session: Session, rows: Sequence[tuple[Any, ...]]) -> set[str]:
    """rows: the inserted rows in store.CLICK_COLUMNS order. Returns the click ids that
    turned from human into bot (the rollups move them)."""
    keys = {(r[1], r[10], r[15], "" if r[15] else r[16]) for r in rows if r[10]}
    if not keys:
        return set()
    times = [r[3] for r in rows]
    span = (min(times) - WINDOW_MS, max(times) + WINDOW_MS)
    # Only a group with enough distinct links in the whole span can hold a burst; the
    # database counts them, so a much-clicked message with one or two links (a hot
    # link clicked thousands of times a minute) costs no rows in Python at all.
    groups = _linked_groups(session, keys, span)
    if not groups:
        return set()
    where, params = _in_span(session, groups, span)
    sql = f"SELECT {', '.join(Stored._fields)} FROM clicks WHERE {where}"
    # Plain driver rows: SQLAlchemy decoding every stored click's JSON reasons cost more
    # than the query.
    stored = [Stored._make(row) for row in fetch_all(session, sql, params)]
    by_group: dict[GroupKey, list[Stored]] = defaultdict(list)
    for row in stored:
        key = (row.tenant_id, row.message_id, row.recipient, "" if row.recipient else row.ip)
        if key in groups:
            by_group[key].append(row)
    changes: list[dict[str, Any]] = []
    flipped: set[str] = set()
    for clicks in by_group.values():
        flagged = reclassify_bursts(
            BurstClick(c.click_id, c.time_ms, f"{c.location}:{c.link_index}:{c.url}")
            for c in clicks
        )
        for c in clicks:
            if c.click_id in flagged and BURST not in _reasons(c):
                changes.append(_change(c))
                if changes[-1]["bot"] and not c.is_bot:
                    flipped.add(c.click_id)
    if changes:
        stmt = (
            update(Click)
            .where(Click.click_id == bindparam("cid"))
            .values(
                is_bot=bindparam("bot"),
                bot_reasons=bindparam("reasons"),
                bot_confidence=bindparam("conf"),
            )
        )
        session.connection().execute(stmt, changes)
    return flipped


def _in_span(session: Session, keys: set[GroupKey], span: tuple[int, int]) -> tuple[str, list[Any]]:
    """WHERE text and parameters: clicks of these groups (or of a few more, which the
    caller drops) in the time span. Groups are per recipient: a campaign-wide message id
    must not load everyone's."""
    terms, params = [], []
    for i, column in enumerate(("tenant_id", "message_id", "recipient")):
        term, values = any_of(session, column, {k[i] for k in keys})
        terms.append(term)
        params += values
    return f"{' AND '.join(terms)} AND time_ms BETWEEN ? AND ?", [*params, *span]


def _linked_groups(session: Session, keys: set[GroupKey], span: tuple[int, int]) -> set[GroupKey]:
    """The groups that clicked at least DEFAULT_MIN_LINKS distinct links in the span.

    A link is (location, link_index, url), as reclassify_bursts tells links apart.
    """
    where, params = _in_span(session, keys, span)
    sql = (
        "SELECT tenant_id, message_id, recipient, reader FROM (SELECT DISTINCT tenant_id, "
        f"message_id, recipient, {_READER} AS reader, location, link_index, url FROM clicks "
        f"WHERE {where}) AS links GROUP BY tenant_id, message_id, recipient, reader "
        "HAVING COUNT(*) >= ?"
    )
    found = fetch_all(session, sql, [*params, DEFAULT_MIN_LINKS])
    return {
        (tenant, message, recipient, reader) for tenant, message, recipient, reader in found
    } & keys


def _reasons(click: Stored) -> list[str]:
    value = click.bot_reasons
    return _decode_reasons(value) if isinstance(value, str | bytes) else list(value or [])


def _change(click: Stored) -> dict[str, Any]:
    verdict = verdict_of([*_reasons(click), BURST])
    return {
        "cid": click.click_id,
        "bot": verdict.is_bot,
        "reasons": list(verdict.reasons),
        "conf": verdict.confidence,
    }
