"""Signing keys (/v1/keys) and the kill switch (/v1/revocations)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import delete, get, post
from litestar.params import JSONBody
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from control.api.context import Ctx, RowId, TenantId
from control.api.errors import ApiError
from control.db.models import Revocation, SigningKey
from control.keys import revoke_key, rotate
from control.revocations import KINDS, add_revocation, delete_revocation
from control.tenants import Conflict, NotFound


class KeyOut(msgspec.Struct, kw_only=True):
    key_id: int
    state: str  # verify-only, active, retired, revoked
    pending: bool  # becomes active once every connected edge holds it
    created_ms: int
    changed_ms: int


class KeyList(msgspec.Struct):
    keys: list[KeyOut]


def key_out(k: SigningKey) -> KeyOut:
    return KeyOut(
        key_id=k.id,
        state=k.state,
        pending=k.pending,
        created_ms=k.created_ms,
        changed_ms=k.changed_ms,
    )


@get("/v1/keys", sync_to_thread=True, tags=["keys"])
def list_keys(tenant_id: TenantId, ctx: Ctx) -> KeyList:
    """The tenant's signing keys (never their secrets)."""
    with ctx.sessions() as session:
        rows = session.scalars(
            select(SigningKey).where(SigningKey.tenant_id == tenant_id).order_by(SigningKey.id)
        ).all()
    return KeyList([key_out(k) for k in rows])


@post("/v1/keys/rotate", sync_to_thread=True, status_code=202, tags=["keys"])
def rotate_key(tenant_id: TenantId, ctx: Ctx) -> KeyOut:
    """Publish a new key; it signs new links once every connected edge holds it."""
    with ctx.sessions.begin() as session:
        return key_out(rotate(session, ctx.sealer, tenant_id))


@post("/v1/keys/{key_id:int}/revoke", sync_to_thread=True, status_code=200, tags=["keys"])
def revoke_signing_key(key_id: RowId, tenant_id: TenantId, ctx: Ctx) -> KeyOut:
    """Refuse every link signed with a compromised key, everywhere."""
    try:
        with ctx.sessions.begin() as session:
            return key_out(revoke_key(session, tenant_id, key_id))
    except LookupError as exc:
        raise ApiError(404, "not_found", str(exc)) from None


class RevocationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: str  # link (value: tracked URL), message (message id), host (destination host), tenant
    value: Annotated[str, msgspec.Meta(max_length=32768, pattern=r"^[^\x00]*$")] = ""
    reason: Annotated[str, msgspec.Meta(max_length=500, pattern=r"^[^\x00]*$")] = ""


class RevocationOut(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    value: str
    reason: str
    created_ms: int


class RevocationList(msgspec.Struct):
    revocations: list[RevocationOut]


def revocation_out(r: Revocation) -> RevocationOut:
    return RevocationOut(
        id=r.id, kind=r.kind, value=r.value, reason=r.reason, created_ms=r.created_ms
    )


@post("/v1/revocations", sync_to_thread=True, status_code=201, tags=["revocations"])
def create_revocation(data: JSONBody[RevocationIn], tenant_id: TenantId, ctx: Ctx) -> RevocationOut:
    """Stop a link, a message, every link to a host, or the whole tenant: edges answer 410."""
    if data.kind not in KINDS:
        raise ApiError(400, "bad_request", f"kind must be one of {', '.join(KINDS)}")
    try:
        with ctx.sessions.begin() as session:
            row = add_revocation(session, ctx.sealer, tenant_id, data.kind, data.value, data.reason)
            return revocation_out(row)
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except IntegrityError:  # the same revocation added by a concurrent request
        raise ApiError(409, "conflict", f"{data.kind} {data.value!r} is already revoked") from None
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@get("/v1/revocations", sync_to_thread=True, tags=["revocations"])
def list_revocations(tenant_id: TenantId, ctx: Ctx) -> RevocationList:
    with ctx.sessions() as session:
        rows = session.scalars(
            select(Revocation).where(Revocation.tenant_id == tenant_id).order_by(Revocation.id)
        ).all()
    return RevocationList([revocation_out(r) for r in rows])


@delete("/v1/revocations/{revocation_id:int}", sync_to_thread=True, tags=["revocations"])
def remove_revocation(revocation_id: RowId, tenant_id: TenantId, ctx: Ctx) -> None:
    """Lift a revocation; links work again once edges have the new config."""
    try:
        with ctx.sessions.begin() as session:
            delete_revocation(session, tenant_id, revocation_id)
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
