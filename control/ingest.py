"""Store shipped click records exactly once: insert, ignoring click ids already stored."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import Click, SigningKey
from edge import token
from edge.record import decode_record


class IngestResult(msgspec.Struct):
    inserted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = []


class KeyCache:
    """Key id -> (tenant, secret). Keys never change once created, so caching is safe."""

    def __init__(self) -> None:
        self._keys: dict[int, tuple[int, bytes]] = {}

    def get(self, session: Session, key_id: int) -> tuple[int, bytes] | None:
        found = self._keys.get(key_id)
        if found is None:
            row = session.scalar(select(SigningKey).where(SigningKey.id == key_id))
            if row is None:
                return None
            found = self._keys[key_id] = (row.tenant_id, row.secret)
        return found


def to_row(
    record: bytes, edge_id: str, received: int, keys: KeyCache, session: Session
) -> dict[str, Any] | str:
    """A clicks-table row from one journal record, or a rejection reason."""
    try:
        click = decode_record(record)
        key_id, body = token.decode_raw(click.netloc, click.token)
    except (msgspec.DecodeError, IndexError, ValueError):
        return "malformed"
    key = keys.get(session, key_id)
    if key is None:
        return "unknown_key"
    if not token.verify_raw(click.netloc, click.token, key[1]):
        return "bad_token"  # the edge verified it; re-checking keeps a broken edge from lying
    return {
        "click_id": click.click_id.hex(),
        "tenant_id": key[0],
        "key_id": key_id,
        "time_ms": click.time_ms,
        "received_ms": received,
        "edge_id": edge_id[:200],
        "status": click.status,
        "method": click.method.decode("latin-1")[:8],
        "host": click.host.decode("latin-1").partition(":")[0][:253],
        "url": token.destination(click.netloc, body),
        "message_id": body.message_id[:200],
        "link_index": body.link_index,
        "location": token.LOCATIONS[body.location] if body.location < 2 else "html",
        "tags": list(body.tags),
        "sent_at": body.sent_at,
        "recipient": body.recipient[:200],
        "ip": click.ip[:45],
        "user_agent": click.user_agent.decode("utf-8", "replace"),
        "referer": click.referer.decode("utf-8", "replace"),
        "accept_language": click.accept_language.decode("latin-1")[:200],
        "purpose": click.purpose.decode("latin-1")[:64],
    }


def ingest(
    engine: Engine, session: Session, edge_id: str, records: list[bytes], keys: KeyCache
) -> IngestResult:
    """Insert a batch in one transaction: all of it is stored, or none of it."""
    result = IngestResult()
    received = now_ms()
    rows: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        row = to_row(record, edge_id, received, keys, session)
        if isinstance(row, str):
            result.rejected.append((index, row))
        else:
            rows.append(row)
    if rows:
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(Click).on_conflict_do_nothing(index_elements=["click_id"])
        inserted = session.execute(stmt.returning(Click.click_id), rows).scalars().all()
        result.inserted = len(inserted)
        result.duplicates = len(rows) - len(inserted)
    return result
