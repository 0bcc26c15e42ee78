"""Click domains: which host names serve which tenant's tracked links."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import Domain
from control.keys import bump_revision
from control.tenants import Conflict, NotFound

_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)


def normalize(name: str) -> str:
    host = name.strip().rstrip(".").lower()
    if not _HOSTNAME.fullmatch(host):
        raise ValueError(f"not a host name: {name!r}")
    return host


def add_domain(session: Session, tenant_id: int, name: str, default: bool = False) -> Domain:
    host = normalize(name)
    existing = session.scalar(select(Domain).where(Domain.name == host))
    if existing is not None:
        raise Conflict(f"domain {host} is already registered")
    if default:
        for other in session.scalars(select(Domain).where(Domain.tenant_id == tenant_id)):
            other.is_default = False
    domain = Domain(tenant_id=tenant_id, name=host, is_default=default, created_ms=now_ms())
    session.add(domain)
    session.flush()
    bump_revision(session)
    return domain


def domain_for(session: Session, tenant_id: int, name: str | None) -> Domain:
    """The tenant's named domain, or its default one when name is None."""
    query = select(Domain).where(Domain.tenant_id == tenant_id)
    if name is not None:
        query = query.where(Domain.name == name.strip().rstrip(".").lower())
    else:
        query = query.order_by(Domain.is_default.desc(), Domain.id)
    domain = session.scalar(query.limit(1))
    if domain is None:
        raise NotFound(f"no click domain {name!r}" if name else "tenant has no click domain")
    return domain
