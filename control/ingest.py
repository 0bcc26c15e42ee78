"""Store shipped click records exactly once, enriched: insert, ignoring stored click ids."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from control.bursts import reclassify_new_clicks
from control.clock import now_ms
from control.db.models import SigningKey, Tenant
from control.enrich import Enricher
from control.keys import key_secret
from control.privacy import drop_erased
from control.rollups.facts import streams_of
from control.rollups.roll import roll_new_clicks
from control.store import insert_new_clicks
from control.webhooks.outbox import enqueue_click_events
from edge import token
from edge.record import ClickRecord, decode_record
from edge.sealing import Sealer

_encode_json = msgspec.json.Encoder().encode
TENANT_CACHE_SECONDS = 30.0  # how soon a tenant's privacy switch reaches ingest
# Headers are stored up to these lengths: real ones are far shorter, and one link
# requested with a 400 KB User-Agent must not grow the clicks table by 400 KB a click.
MAX_USER_AGENT = 1024
MAX_REFERER = 2048


class IngestResult(msgspec.Struct):
    inserted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = []


class Ingestor:
    """Decodes, re-verifies and enriches records; caches keys and tenant switches."""

    def __init__(self, sealer: Sealer, enricher: Enricher) -> None:
        self.sealer = sealer
        self.enricher = enricher
        self._keys: dict[int, tuple[int, bytes]] = {}  # key material never changes
        self._truncate: dict[int, tuple[bool, float]] = {}

    def ingest(self, session: Session, edge_id: str, records: list[bytes]) -> IngestResult:
        """Insert a batch in one transaction: all of it is stored, or none of it."""
        result = IngestResult()
        received = now_ms()
        rows: list[tuple[Any, ...]] = []
        for index, record in enumerate(records):
            row = self.to_row(session, record, edge_id, received)
            if isinstance(row, str):
                result.rejected.append((index, row))
            else:
                rows.append(row)
        inserted = store_new(session, rows)
        result.inserted = inserted
        result.duplicates = len(rows) - inserted
        return result

    def to_row(
        self, session: Session, record: bytes, edge_id: str, received: int
    ) -> tuple[Any, ...] | str:
        """A clicks row (store.CLICK_COLUMNS order) from one journal record, or why not."""
        try:
            click = decode_record(record)
            key_id, body = token.decode_raw(click.netloc, click.token)
        except (msgspec.DecodeError, IndexError, ValueError):
            return "malformed"
        key = self.key(session, key_id)
        if key is None:
            return "unknown_key"
        if not token.verify_raw(click.netloc, click.token, key[1]):
            return "bad_token"  # the edge verified it; re-checking keeps a broken edge honest
        user_agent = _text(click.user_agent.decode("utf-8", "replace")[:MAX_USER_AGENT])
        found = self.enrich(session, click, user_agent, key[0], body.sent_at)
        location = token.LOCATIONS[body.location] if body.location < 2 else "html"
        return (
            click.click_id.hex(),
            key[0],
            key_id,
            click.time_ms,
            received,
            edge_id[:200],
            click.status,
            click.method.decode("latin-1")[:8],
            # As the edge matched it: "Click.Brand.com.:443" is click.brand.com in stats.
            click.host.decode("latin-1").partition(":")[0].lower().rstrip(".")[:253],
            _text(token.destination(click.netloc, body)),
            _text(body.message_id)[:200],
            body.link_index,
            location,
            _encode_json([_text(tag) for tag in body.tags]).decode(),
            body.sent_at,
            _text(body.recipient)[:200],
            found.ip,
            user_agent,
            _text(click.referer.decode("utf-8", "replace")[:MAX_REFERER]),
            _text(click.accept_language.decode("latin-1"))[:200],
            _text(click.purpose.decode("latin-1"))[:64],
            *_enrichment_columns(found),
            "",  # stream: store_new looks the batch's messages up at once
        )

    def enrich(
        self, session: Session, click: ClickRecord, user_agent: str, tenant_id: int, sent_at: int
    ) -> Any:
        return self.enricher.enrich(
            ip=click.ip,
            user_agent=user_agent,
            method=click.method.decode("latin-1"),
            purpose=click.purpose.decode("latin-1"),
            time_ms=click.time_ms,
            sent_at_s=sent_at,
            truncate_ip=self.truncates(session, tenant_id),
        )

    def key(self, session: Session, key_id: int) -> tuple[int, bytes] | None:
        """(tenant, secret) of a key id; a revoked key's clicks never left the edge."""
        found = self._keys.get(key_id)
        if found is None:
            row = session.scalar(select(SigningKey).where(SigningKey.id == key_id))
            if row is None:
                return None
            found = self._keys[key_id] = (row.tenant_id, key_secret(self.sealer, row))
        return found

    def truncates(self, session: Session, tenant_id: int) -> bool:
        cached = self._truncate.get(tenant_id)
        if cached is not None and time.monotonic() - cached[1] < TENANT_CACHE_SECONDS:
            return cached[0]
        flag = session.scalar(select(Tenant.truncate_ips).where(Tenant.id == tenant_id))
        value = True if flag is None else bool(flag)  # unknown: the private choice
        self._truncate[tenant_id] = (value, time.monotonic())
        return value


def store_new(session: Session, rows: list[tuple[Any, ...]]) -> int:
    """Insert the rows not stored yet; bursts, rollups and webhooks for those only.

    The burst check runs first so the rollups count each click with its final verdict.
    """
    rows = with_streams(session, drop_erased(session, rows))
    inserted = insert_new_clicks(session, rows)
    if inserted:
        new = set(inserted)
        new_rows = []
        for row in rows:
            if row[0] in new:
                new.discard(row[0])  # a click twice in one batch is stored (and counted) once
                new_rows.append(row)
        flipped = reclassify_new_clicks(session, new_rows)
        roll_new_clicks(session, new_rows, flipped)
        enqueue_click_events(session, new_rows)
    return len(inserted)


def with_streams(session: Session, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows with each click's stream (the last column): its message record's, now.

    Tokens do not carry the stream; it is looked up once, here, and stored with the
    click, so raw queries, rollups, webhooks and a rollup rebuild all see the same one.
    """
    streams = streams_of(session, {(row[1], row[10]) for row in rows})
    return [(*row[:-1], streams.get((row[1], row[10]), "")) for row in rows]


def _text(value: str) -> str:
    """Text PostgreSQL can store: NUL becomes U+FFFD.

    The API refuses NUL, but a token minted before that check, or by a sender's own
    library, can carry one, and one such click would otherwise fail its whole batch
    (PostgreSQL refuses NUL in text) and stall every tenant's clicks behind it.
    """
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _enrichment_columns(e: Any) -> tuple[Any, ...]:
    return (
        e.browser[:100],
        e.browser_version[:50],
        e.os[:100],
        e.os_version[:50],
        e.device[:100],
        e.platform,
        e.email_client[:50],
        e.country[:2],
        e.region[:100],
        e.city[:100],
        e.asn,
        e.as_org[:200],
        e.is_bot,
        _encode_json(list(e.bot_reasons)).decode(),
        e.bot_confidence,
    )
