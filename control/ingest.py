"""Store shipped click records exactly once: insert, ignoring click ids already stored."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import SigningKey
from control.keys import key_secret
from control.store import insert_new_clicks
from edge import token
from edge.record import decode_record
from edge.sealing import Sealer

_encode_json = msgspec.json.Encoder().encode


class IngestResult(msgspec.Struct):
    inserted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = []


class KeyCache:
    """Key id -> (tenant, secret). Key material never changes once created, so caching
    is safe; a revoked key's clicks were already refused by the edge."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer
        self._keys: dict[int, tuple[int, bytes]] = {}

    def get(self, session: Session, key_id: int) -> tuple[int, bytes] | None:
        found = self._keys.get(key_id)
        if found is None:
            row = session.scalar(select(SigningKey).where(SigningKey.id == key_id))
            if row is None:
                return None
            found = self._keys[key_id] = (row.tenant_id, key_secret(self.sealer, row))
        return found


def to_row(
    record: bytes, edge_id: str, received: int, keys: KeyCache, session: Session
) -> tuple[Any, ...] | str:
    """A clicks-table row (in store.CLICK_COLUMNS order) from one journal record, or a
    rejection reason."""
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
    return (
        click.click_id.hex(),
        key[0],
        key_id,
        click.time_ms,
        received,
        edge_id[:200],
        click.status,
        click.method.decode("latin-1")[:8],
        click.host.decode("latin-1").partition(":")[0][:253],
        token.destination(click.netloc, body),
        body.message_id[:200],
        body.link_index,
        token.LOCATIONS[body.location] if body.location < 2 else "html",
        _encode_json(list(body.tags)).decode(),
        body.sent_at,
        body.recipient[:200],
        click.ip[:45],
        click.user_agent.decode("utf-8", "replace"),
        click.referer.decode("utf-8", "replace"),
        click.accept_language.decode("latin-1")[:200],
        click.purpose.decode("latin-1")[:64],
    )


def ingest(session: Session, edge_id: str, records: list[bytes], keys: KeyCache) -> IngestResult:
    """Insert a batch in one transaction: all of it is stored, or none of it."""
    result = IngestResult()
    received = now_ms()
    rows: list[tuple[Any, ...]] = []
    for index, record in enumerate(records):
        row = to_row(record, edge_id, received, keys, session)
        if isinstance(row, str):
            result.rejected.append((index, row))
        else:
            rows.append(row)
    inserted = insert_new_clicks(session, rows)
    result.inserted = len(inserted)
    result.duplicates = len(rows) - len(inserted)
    return result
