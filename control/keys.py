"""Per-tenant signing keys. A key's id is in every token, so keys can rotate."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import ConfigRevision, SigningKey
from edge.token import KEY_LEN


class NoSigningKey(LookupError):
    """The tenant has no active key to sign with."""


def create_signing_key(session: Session, tenant_id: int, state: str = "verify-only") -> SigningKey:
    key = SigningKey(
        tenant_id=tenant_id, secret=secrets.token_bytes(KEY_LEN), state=state, created_ms=now_ms()
    )
    session.add(key)
    session.flush()
    bump_revision(session)
    return key


def active_key(session: Session, tenant_id: int) -> SigningKey:
    key = session.scalar(
        select(SigningKey)
        .where(SigningKey.tenant_id == tenant_id, SigningKey.state == "active")
        .order_by(SigningKey.id.desc())
    )
    if key is None:
        raise NoSigningKey(f"tenant {tenant_id} has no active signing key")
    return key


def bump_revision(session: Session) -> None:
    """Tell edges something changed; commits with the caller's transaction."""
    session.execute(
        update(ConfigRevision)
        .where(ConfigRevision.id == 1)
        .values(revision=ConfigRevision.revision + 1)
    )
