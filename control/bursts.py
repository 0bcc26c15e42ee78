"""At ingest: find bursts (one recipient's links clicked within seconds) and mark them bots.

Runs in the ingest transaction for newly inserted clicks only, so earlier clicks of a
burst are reclassified when its later clicks arrive. One query per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

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
GroupKey = tuple[int, str, str]  # tenant, message id, recipient


def reclassify_new_clicks(session: Session, rows: Sequence[tuple[Any, ...]]) -> set[str]:
    """rows: the inserted rows in store.CLICK_COLUMNS order. Returns the click ids that
    turned from human into bot (the rollups move them)."""
    keys = {(r[1], r[10], r[15]) for r in rows if r[10]}
    if not keys:
        return set()
    times = [r[3] for r in rows]
    stored = session.execute(
        select(
            Click.click_id,
            Click.tenant_id,
            Click.message_id,
            Click.recipient,
            Click.time_ms,
            Click.location,
            Click.link_index,
            Click.url,
            Click.bot_reasons,
            Click.is_bot,
        ).where(
            Click.tenant_id.in_({k[0] for k in keys}),
            Click.message_id.in_({k[1] for k in keys}),
            # Groups are per recipient: a campaign-wide message id must not load everyone's.
            Click.recipient.in_({k[2] for k in keys}),
            Click.time_ms.between(min(times) - WINDOW_MS, max(times) + WINDOW_MS),
        )
    ).all()
    groups: dict[GroupKey, list[Any]] = defaultdict(list)
    for row in stored:
        key = (row.tenant_id, row.message_id, row.recipient)
        if key in keys:
            groups[key].append(row)
    changes: list[dict[str, Any]] = []
    flipped: set[str] = set()
    for clicks in groups.values():
        if len({(c.location, c.link_index, c.url) for c in clicks}) < DEFAULT_MIN_LINKS:
            continue
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


def _reasons(click: Any) -> list[str]:
    value = click.bot_reasons
    return _decode_reasons(value) if isinstance(value, str | bytes) else list(value or [])


def _change(click: Any) -> dict[str, Any]:
    verdict = verdict_of([*_reasons(click), BURST])
    return {
        "cid": click.click_id,
        "bot": verdict.is_bot,
        "reasons": list(verdict.reasons),
        "conf": verdict.confidence,
    }
