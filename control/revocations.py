"""Kill switch: revoke one link, one message, every link to a host, or a whole tenant."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import Revocation, SigningKey
from control.keys import bump_revision, key_secret
from control.tenants import Conflict, NotFound
from edge import token
from edge.config import ipv6_literal
from edge.sealing import Sealer

KINDS = ("link", "message", "host", "tenant")
# Any host name a link may go to (control.rewrite.urls takes "_" and "-" anywhere in a
# label, as browsers do), which is more than a click domain may be (control.domains).
_DESTINATION_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")


def revocation_value(
    session: Session, sealer: Sealer, tenant_id: int, kind: str, value: str
) -> str:
    """The canonical stored value for a revocation request; ValueError when invalid."""
    if kind == "tenant":
        return ""
    if kind == "message":
        if not value or len(value) > 200:
            raise ValueError("value: a message revocation needs the message id (1-200 characters)")
        return value
    if kind == "host":
        return destination_host(value)
    if kind == "link":
        return link_tag(session, sealer, tenant_id, value)
    raise ValueError(f"kind must be one of {', '.join(KINDS)}")


def destination_host(value: str) -> str:
    """A host as the edge compares it (edge.config.destination_host): a name in lower
    case without its trailing dot, or an IPv6 literal in brackets, compressed."""
    host = value.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        literal = ipv6_literal(host) if "%" not in host else ""  # no zone: never minted
        if not literal:
            raise ValueError(f"not a host name or IPv6 address: {value!r}")
        return literal
    host = host.rstrip(".").lower()
    if not _DESTINATION_HOST.fullmatch(host):
        raise ValueError(f"not a host name or IPv6 address: {value!r}")
    return host


def link_tag(session: Session, sealer: Sealer, tenant_id: int, tracked_url: str) -> str:
    """The hex MAC tag that names one tracked link, checked against the tenant's keys."""
    path = urlsplit(tracked_url).path.lstrip("/") if "://" in tracked_url else tracked_url
    keys = {
        k.id: key_secret(sealer, k)
        for k in session.scalars(select(SigningKey).where(SigningKey.tenant_id == tenant_id))
    }
    opened = token.open_token(path, keys)
    if opened is None:
        raise ValueError("not a tracked link of this tenant")
    return opened.raw[-token.TAG_LEN :].hex()


def add_revocation(
    session: Session, sealer: Sealer, tenant_id: int, kind: str, value: str, reason: str
) -> Revocation:
    stored = revocation_value(session, sealer, tenant_id, kind, value)
    exists = session.scalar(
        select(Revocation).where(
            Revocation.tenant_id == tenant_id, Revocation.kind == kind, Revocation.value == stored
        )
    )
    if exists is not None:
        raise Conflict(f"already revoked (id {exists.id})")
    row = Revocation(
        tenant_id=tenant_id, kind=kind, value=stored, reason=reason[:500], created_ms=now_ms()
    )
    session.add(row)
    session.flush()
    bump_revision(session)
    return row


def delete_revocation(session: Session, tenant_id: int, revocation_id: int) -> None:
    # One DELETE and its row count, not a SELECT then a delete: of concurrent requests
    # lifting the same revocation, only the one whose DELETE removed the row succeeds.
    result = session.execute(
        delete(Revocation).where(Revocation.id == revocation_id, Revocation.tenant_id == tenant_id)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"no revocation {revocation_id}")
    bump_revision(session)
