"""Privacy: per-tenant IP truncation and retention, and deleting a recipient's clicks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from blake3 import blake3
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import ColumnElement

from control.clock import now_ms
from control.db.models import Click, Erasure, Tenant, WebhookDelivery
from control.dblock import try_job_lock
from control.links import RECIPIENT_REF_MAX, recipient_ref

log = logging.getLogger("clickgate.control.privacy")

DAY_MS = 86_400_000
RETENTION_INTERVAL_SECONDS = 3600.0
RETENTION_RETRY_SECONDS = 60.0
RETENTION_JOB = "clickgate.retention"


# When recipient_ref began to hash references over 64 characters instead of cutting them
# (2026-12-02T06:15Z, commit d171ed8): links sent before then carry the cut form.
LONG_REFS_HASHED_MS = 1_796_192_100_000


def delete_recipient_clicks(session: Session, tenant_id: int, recipient: str) -> int:
    """Remove every click of one recipient (by address or by the reference used at send),
    their webhook deliveries (payloads hold the recipient; a replay would send them
    again), and remember the erasure so their clicks made before it and arriving later
    are not stored anew."""
    refs = {recipient_ref(tenant_id, recipient), recipient[:200]}
    matches: ColumnElement[bool] = Click.recipient.in_(refs)
    if len(recipient) > RECIPIENT_REF_MAX and "@" not in recipient:
        # Links minted before long references were hashed carry their first 64
        # characters; only those links, since today exactly 64 characters are another
        # recipient's own reference, whose clicks must stay.
        matches = or_(
            matches,
            and_(
                Click.recipient == recipient[:RECIPIENT_REF_MAX],
                Click.sent_at < LONG_REFS_HASHED_MS,
            ),
        )
    theirs = select(Click.click_id).where(Click.tenant_id == tenant_id, matches)
    session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.click_id.in_(theirs)
        )
    )
    result = session.execute(delete(Click).where(Click.tenant_id == tenant_id, matches))
    now = now_ms()
    session.add_all(
        Erasure(tenant_id=tenant_id, recipient_hash=erasure_hash(tenant_id, ref), erased_ms=now)
        for ref in refs
    )
    return int(getattr(result, "rowcount", 0) or 0)


# An edge drops a click it could not ship for a week (EdgeSettings.journal_max_age), so a late
# copy of an erased recipient's click can arrive for about that long.
ERASURE_KEEP_DAYS = 30


def erasure_hash(tenant_id: int, recipient: str) -> str:
    """What an erasure keeps of a recipient reference: a tenant-scoped hash."""
    return blake3(f"{tenant_id}:{recipient}".encode()).hexdigest(16)


def drop_erased(session: Session, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """rows (store.CLICK_COLUMNS order) without clicks of erased recipients made before
    their erasure. One indexed query for a batch that has recipients."""
    hashes = [erasure_hash(r[1], r[15]) if r[15] else "" for r in rows]
    wanted = {(r[1], h) for r, h in zip(rows, hashes, strict=True) if h}
    if not wanted:
        return rows
    found = session.execute(
        select(Erasure.tenant_id, Erasure.recipient_hash, Erasure.erased_ms).where(
            Erasure.tenant_id.in_({t for t, _ in wanted}),
            Erasure.recipient_hash.in_({h for _, h in wanted}),
        )
    ).all()
    if not found:
        return rows
    erased: dict[tuple[int, str], int] = {}
    for tenant_id, digest, erased_ms in found:
        key = (tenant_id, digest)
        erased[key] = max(erased.get(key, 0), erased_ms)
    return [
        r for r, h in zip(rows, hashes, strict=True) if not h or r[3] > erased.get((r[1], h), -1)
    ]


def enforce_retention(session: Session) -> int:
    """Delete clicks older than each tenant's retention; returns how many went."""
    removed = 0
    now = now_ms()
    for tenant_id, days in session.execute(
        select(Tenant.id, Tenant.retention_days).where(Tenant.retention_days > 0)
    ):
        cutoff = now - days * DAY_MS
        session.execute(  # their payloads too: a replay must not send deleted clicks
            delete(WebhookDelivery).where(
                WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.event_time_ms < cutoff
            )
        )
        result = session.execute(
            delete(Click).where(Click.tenant_id == tenant_id, Click.time_ms < cutoff)
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    session.execute(delete(Erasure).where(Erasure.erased_ms < now - ERASURE_KEEP_DAYS * DAY_MS))
    return removed


async def retention_forever(sessions: sessionmaker[Session]) -> None:
    """Background job of the control plane: every replica runs the loop, one pass at a time.

    Deleting is idempotent, but two replicas deleting the same rows at once would only
    wait on each other's row locks; the advisory lock makes a replica skip a pass that
    another one is running.
    """
    while True:
        delay = RETENTION_INTERVAL_SECONDS
        try:
            removed = await asyncio.to_thread(_retention_once, sessions)
            if removed:
                log.info("retention removed %d clicks", removed)
        except SQLAlchemyError as exc:
            # E.g. a replica that started before the migration Job finished: try again
            # soon rather than in an hour.
            log.error("retention failed: %s", exc.__class__.__name__)
            delay = RETENTION_RETRY_SECONDS
        except Exception:  # anything else must not end retention for good
            log.exception("retention failed")
            delay = RETENTION_RETRY_SECONDS
        await asyncio.sleep(delay)


def _retention_once(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        if not try_job_lock(session, RETENTION_JOB):
            return 0  # another replica is deleting right now
        return enforce_retention(session)
