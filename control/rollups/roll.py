"""Keep rollups exact at ingest, in the ingest transaction, for newly inserted clicks only.

Called after the burst check, so a click is counted with its final bot verdict; clicks
stored earlier that the burst check turned into bots move from the human to the bot rows,
and a unique flag they held passes to the next human click of the same link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from control.rollups.deltas import Deltas
from control.rollups.facts import Fact, from_row, stored_facts
from control.rollups.firsts import FirstKey, claim, release

IS_BOT = 33  # store.CLICK_COLUMNS.index("is_bot")
STREAM = 36  # store.CLICK_COLUMNS.index("stream")


def roll_new_clicks(session: Session, rows: Sequence[tuple[Any, ...]], flipped: set[str]) -> None:
    """rows: the inserted rows (store.CLICK_COLUMNS order); flipped: click ids the burst
    check just turned from human into bot (new or stored earlier)."""
    facts = [from_row(r, r[STREAM], bool(r[IS_BOT]) or r[0] in flipped) for r in rows]
    deltas = Deltas()
    won, lost = claim(session, facts)
    for fact in facts:
        link_first, message_first = holds(fact, won)
        deltas.click(fact, 1, link_first, message_first)
    for key, click_id in lost.items():
        for fact in stored_facts(session, [click_id]):
            # A holder was counted as human, whatever the burst check says of it now.
            deltas.flags(fact._replace(is_bot=False), *_flags(key, -1))
    new = {r[0] for r in rows}
    for fact in stored_facts(session, flipped - new):
        demote(session, deltas, fact)
    deltas.flush(session)


def holds(fact: Fact, won: dict[FirstKey, str]) -> tuple[bool, bool]:
    link = won.get((fact.tenant_id, fact.message_id, fact.link())) == fact.click_id
    message = (
        bool(fact.message_id) and won.get((fact.tenant_id, fact.message_id, "")) == fact.click_id
    )
    return link, message


def demote(session: Session, deltas: Deltas, fact: Fact) -> None:
    """A stored human click is a bot now: move it, and pass on its unique flags."""
    human = fact._replace(is_bot=False)
    handed = release(session, human)
    link_first = any(key[2] for key, _ in handed)
    message_first = any(not key[2] for key, _ in handed)
    deltas.click(human, -1, link_first, message_first)
    deltas.click(fact._replace(is_bot=True), 1)
    for key, successor in handed:
        if successor is not None:
            for heir in stored_facts(session, [successor]):
                deltas.flags(heir, *_flags(key, 1))


def _flags(key: FirstKey, sign: int) -> tuple[int, int]:
    return (sign, 0) if key[2] else (0, sign)
