"""Which human click came first on each message link and each message (the unique ones).

"First" is the earliest by (time, click id), not the first to arrive: edges ship late and
out of order. A later-arriving earlier click takes the flag over, and the displaced click's
unique count moves with it. On PostgreSQL a per-tenant transaction lock serialises this
bookkeeping between concurrent ingests (SQLite has one writer anyway).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from control.db.bulk import any_of, fetch_all, insert_rows
from control.db.models import Click
from control.db.stats_models import FirstClick
from control.rollups.facts import Fact

FirstKey = tuple[int, str, str]  # tenant, message id, link ('' for the message itself)
LOCK_CLASS = 0x636C6B  # advisory lock namespace of these locks
_CHUNK = 500
_COLUMNS = ("tenant_id", "message_id", "link", "click_id", "time_ms")


def keys_of(fact: Fact) -> list[FirstKey]:
    keys = [(fact.tenant_id, fact.message_id, fact.link())]
    if fact.message_id:  # links minted without a message have no message to be first in
        keys.append((fact.tenant_id, fact.message_id, ""))
    return keys


def lock_tenants(session: Session, tenants: Iterable[int]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    for tenant_id in sorted(set(tenants)):  # one order everywhere: no deadlocks
        session.execute(
            text("SELECT pg_advisory_xact_lock(:c, :t)"),
            {"c": LOCK_CLASS, "t": tenant_id % (1 << 31)},
        )


def stored(session: Session, keys: set[FirstKey]) -> dict[FirstKey, tuple[int, str]]:
    """(time, click id) of the current first click of each key that has one."""
    found: dict[FirstKey, tuple[int, str]] = {}
    messages = sorted({k[1] for k in keys})
    # Driver rows and one array per column (any_of): PostgreSQL plans an array far
    # faster than 500 IN parameters, and this runs for every ingest batch (see also
    # db.engine on prepared statements, which made the IN list a table scan).
    by_tenant, tenant_params = any_of(session, "tenant_id", sorted({k[0] for k in keys}))
    for start in range(0, len(messages), _CHUNK):
        by_message, message_params = any_of(session, "message_id", messages[start : start + _CHUNK])
        rows = fetch_all(
            session,
            "SELECT tenant_id, message_id, link, time_ms, click_id FROM first_clicks "
            f"WHERE {by_tenant} AND {by_message}",
            [*tenant_params, *message_params],
        )
        for tenant_id, message_id, link, time_ms, click_id in rows:
            key = (tenant_id, message_id, link)
            if key in keys:
                found[key] = (time_ms, click_id)
    return found


def claim(session: Session, facts: list[Fact]) -> tuple[dict[FirstKey, str], dict[FirstKey, str]]:
    """Record which of these human clicks are now first. Returns the click id that won each
    key it won, and the click id that lost each key taken over from an earlier holder."""
    best: dict[FirstKey, Fact] = {}
    for fact in facts:
        if fact.is_bot:
            continue
        for key in keys_of(fact):
            held = best.get(key)
            if held is None or (fact.time_ms, fact.click_id) < (held.time_ms, held.click_id):
                best[key] = fact
    if not best:
        return {}, {}
    lock_tenants(session, (k[0] for k in best))
    current = stored(session, set(best))
    new: list[tuple[int, str, str, str, int]] = []
    lost: dict[FirstKey, str] = {}
    for key, fact in best.items():
        held_by = current.get(key)
        if held_by is None:
            new.append((*key, fact.click_id, fact.time_ms))
        elif (fact.time_ms, fact.click_id) < held_by:
            lost[key] = held_by[1]
            move(session, key, fact.click_id, fact.time_ms)
    insert_rows(session, "first_clicks", _COLUMNS, new)
    won = {k: f.click_id for k, f in best.items() if k not in current or k in lost}
    return won, lost


def move(session: Session, key: FirstKey, click_id: str, time_ms: int) -> None:
    session.execute(
        update(FirstClick)
        .where(*_match(key))
        .values(click_id=click_id, time_ms=time_ms)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, fact: Fact) -> list[tuple[FirstKey, str | None]]:
    """A first click became a bot: hand each of its keys to the next human click (if any).

    Returns (key, the click that now holds it) for every key the fact held.
    """
    lock_tenants(session, [fact.tenant_id])
    current = stored(session, set(keys_of(fact)))
    handed: list[tuple[FirstKey, str | None]] = []
    for key, (_, click_id) in current.items():
        if click_id != fact.click_id:
            continue
        successor = next_human(session, key, fact)
        if successor is None:
            session.execute(delete(FirstClick).where(*_match(key)))
        else:
            move(session, key, successor[0], successor[1])
        handed.append((key, None if successor is None else successor[0]))
    return handed


def next_human(session: Session, key: FirstKey, fact: Fact) -> tuple[str, int] | None:
    """The earliest human click left on the key (the bot flag is already updated)."""
    query = select(Click.click_id, Click.time_ms).where(
        Click.tenant_id == key[0], Click.message_id == key[1], Click.is_bot.is_(False)
    )
    if key[2]:
        query = query.where(
            Click.location == fact.location,
            Click.link_index == fact.link_index,
            Click.url == fact.url,
        )
    found = session.execute(query.order_by(Click.time_ms, Click.click_id).limit(1)).first()
    return None if found is None else (found[0], found[1])


def _match(key: FirstKey) -> list[Any]:
    return [
        FirstClick.tenant_id == key[0],
        FirstClick.message_id == key[1],
        FirstClick.link == key[2],
    ]
