"""Privacy: per-tenant IP truncation and retention, and deleting a recipient's clicks."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from control.clock import now_ms
from control.db.models import Click, Tenant
from control.dblock import try_job_lock
from control.links import RECIPIENT_REF_MAX, recipient_ref

log = logging.getLogger("clickgate.control.privacy")

DAY_MS = 86_400_000
RETENTION_INTERVAL_SECONDS = 3600.0
RETENTION_RETRY_SECONDS = 60.0
RETENTION_JOB = "clickgate.retention"


def delete_recipient_clicks(session: Session, tenant_id: int, recipient: str) -> int:
    """Remove every click of one recipient (by address or by the reference used at send)."""
    # Links minted before long references were hashed carry their first 64 characters.
    refs = {recipient_ref(tenant_id, recipient), recipient[:200], recipient[:RECIPIENT_REF_MAX]}
    result = session.execute(
        delete(Click).where(Click.tenant_id == tenant_id, Click.recipient.in_(refs))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def enforce_retention(session: Session) -> int:
    """Delete clicks older than each tenant's retention; returns how many went."""
    removed = 0
    now = now_ms()
    for tenant_id, days in session.execute(
        select(Tenant.id, Tenant.retention_days).where(Tenant.retention_days > 0)
    ):
        result = session.execute(
            delete(Click).where(Click.tenant_id == tenant_id, Click.time_ms < now - days * DAY_MS)
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
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
