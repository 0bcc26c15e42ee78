"""Per-tenant signing keys: sealed at rest, rotated without breaking a link.

Lifecycle: a rotated key is created ``verify-only`` and ``pending``; it is published
to edges at once, and ``promote_ready`` makes it ``active`` only when every connected
edge reports holding it, retiring the previous active key in the same transaction.
Retired keys verify forever (links are clicked years later). A ``revoked`` key is
refused everywhere: we do not record every minted link, so a token under a
compromised key cannot be told from a forgery.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import ConfigRevision, EdgeStatus, SigningKey
from edge.sealing import Sealer
from edge.token import KEY_LEN

CONNECTED_WINDOW_MS = 30_000  # an edge not seen for this long no longer holds up rotation


class NoSigningKey(LookupError):
    """The tenant has no active key to sign with."""


def _context(tenant_id: int) -> bytes:
    return f"signing-key:{tenant_id}".encode()


def create_signing_key(
    session: Session,
    sealer: Sealer,
    tenant_id: int,
    state: str = "verify-only",
    pending: bool = False,
) -> SigningKey:
    now = now_ms()
    sealed = sealer.seal(secrets.token_bytes(KEY_LEN), _context(tenant_id))
    key = SigningKey(
        tenant_id=tenant_id,
        secret=sealed,
        state=state,
        pending=pending,
        created_ms=now,
        changed_ms=now,
    )
    session.add(key)
    session.flush()
    bump_revision(session)
    return key


def key_secret(sealer: Sealer, key: SigningKey) -> bytes:
    return sealer.open(key.secret, _context(key.tenant_id))


def active_key(session: Session, tenant_id: int) -> SigningKey:
    key = session.scalar(
        select(SigningKey)
        .where(SigningKey.tenant_id == tenant_id, SigningKey.state == "active")
        .order_by(SigningKey.id.desc())
    )
    if key is None:
        raise NoSigningKey(f"tenant {tenant_id} has no active signing key")
    return key


def rotate(session: Session, sealer: Sealer, tenant_id: int) -> SigningKey:
    """Publish a new key; it turns active once every connected edge holds it."""
    for old in session.scalars(
        select(SigningKey).where(SigningKey.tenant_id == tenant_id, SigningKey.pending)
    ):
        # A newer rotation supersedes one still waiting: that key never signed, and is
        # retired (it would otherwise stay verify-only and unpromoted for good).
        old.state, old.pending, old.changed_ms = "retired", False, now_ms()
    return create_signing_key(session, sealer, tenant_id, state="verify-only", pending=True)


def revoke_key(session: Session, tenant_id: int, key_id: int) -> SigningKey:
    key = session.scalar(
        select(SigningKey).where(SigningKey.id == key_id, SigningKey.tenant_id == tenant_id)
    )
    if key is None:
        raise LookupError(f"no key {key_id}")
    key.state, key.pending, key.changed_ms = "revoked", False, now_ms()
    bump_revision(session)
    return key


def connected_edges(session: Session) -> list[EdgeStatus]:
    cutoff = now_ms() - CONNECTED_WINDOW_MS
    query = select(EdgeStatus).where(EdgeStatus.connected, EdgeStatus.last_seen_ms >= cutoff)
    return list(session.scalars(query))


def promote_ready(session: Session) -> list[int]:
    """Activate pending keys held by every connected edge; returns their ids."""
    pending = list(session.scalars(select(SigningKey).where(SigningKey.pending).with_for_update()))
    if not pending:
        return []
    edges = connected_edges(session)
    promoted = []
    for key in pending:
        if all(key.id in (edge.key_ids_held or []) for edge in edges):
            _activate(session, key)
            promoted.append(key.id)
    if promoted:
        bump_revision(session)
    return promoted


def _activate(session: Session, key: SigningKey) -> None:
    now = now_ms()
    for old in session.scalars(
        select(SigningKey).where(
            SigningKey.tenant_id == key.tenant_id, SigningKey.state == "active"
        )
    ):
        old.state, old.changed_ms = "retired", now
    key.state, key.pending, key.changed_ms = "active", False, now


def bump_revision(session: Session) -> None:
    """Tell edges something changed; commits with the caller's transaction."""
    session.execute(
        update(ConfigRevision)
        .where(ConfigRevision.id == 1)
        .values(revision=ConfigRevision.revision + 1)
    )
