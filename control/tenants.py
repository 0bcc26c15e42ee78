"""Tenants and their API keys (stored as SHA-256 of a high-entropy secret)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import ApiKey, Tenant
from control.fields import MAX_ID, check_tenant_name
from control.keys import create_signing_key
from edge.sealing import Sealer


class NotFound(LookupError):
    """A named object that does not exist (or belongs to another tenant)."""


class Conflict(ValueError):
    """A create that clashes with something that exists."""


def create_tenant(session: Session, sealer: Sealer, name: str) -> Tenant:
    """A tenant with an active signing key, ready to mint links; ValueError for a bad name."""
    name = check_tenant_name(name)
    if session.scalar(select(Tenant).where(Tenant.name == name)) is not None:
        raise Conflict(f"tenant {name!r} exists")
    tenant = Tenant(name=name, created_ms=now_ms())
    session.add(tenant)
    session.flush()
    create_signing_key(session, sealer, tenant.id, state="active")
    return tenant


def find_tenant(session: Session, ref: str) -> Tenant:
    """A tenant by id or by name."""
    # isascii: "²".isdigit() is true, and int("²") fails.
    is_id = ref.isascii() and ref.isdigit() and int(ref) <= MAX_ID
    query = select(Tenant).where(Tenant.id == int(ref)) if is_id else None
    tenant = session.scalar(query) if query is not None else None
    tenant = tenant or session.scalar(select(Tenant).where(Tenant.name == ref))
    if tenant is None:
        raise NotFound(f"no tenant {ref!r}")
    return tenant


def create_api_key(session: Session, tenant_id: int) -> str:
    """Store a new key's hash and return the key itself (shown once, never stored)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    session.add(
        ApiKey(tenant_id=tenant_id, prefix=prefix, secret_sha256=_hash(secret), created_ms=now_ms())
    )
    session.flush()
    return f"cg_{prefix}_{secret}"


def store_api_key(session: Session, tenant_id: int, api_key: str) -> bool:
    """Accept a key made outside (the operator's bootstrap Secret); False if it is stored.

    A key already stored for another tenant is a Conflict: never move a key.
    """
    _, prefix, secret = api_key.split("_", 2)
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is not None:
        if row.tenant_id != tenant_id or not hmac.compare_digest(row.secret_sha256, _hash(secret)):
            raise Conflict(f"API key prefix {prefix} is already in use")
        return False
    session.add(
        ApiKey(tenant_id=tenant_id, prefix=prefix, secret_sha256=_hash(secret), created_ms=now_ms())
    )
    session.flush()
    return True


def revoke_api_key(session: Session, key_or_prefix: str) -> None:
    """Revoke a key given whole (`cg_<prefix>_<secret>`, which must be right: a mistyped
    secret revoked whichever key had the prefix) or by its prefix (`cg_<prefix>` or bare)."""
    parts = key_or_prefix.split("_", 2) if key_or_prefix.startswith("cg_") else ["", key_or_prefix]
    prefix = parts[1]
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None:
        raise NotFound(f"no API key with prefix {prefix!r}")
    if len(parts) == 3 and not hmac.compare_digest(row.secret_sha256, _hash(parts[2])):
        raise NotFound(
            f"API key {prefix!r} has another secret (give the prefix alone to revoke it)"
        )
    row.revoked_ms = row.revoked_ms or now_ms()


def authenticate(session: Session, api_key: str) -> int | None:
    """The tenant id an API key belongs to, or None for an unknown or revoked key."""
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != "cg":
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if row is None or row.revoked_ms is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _hash(parts[2])):
        return None
    return row.tenant_id


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
