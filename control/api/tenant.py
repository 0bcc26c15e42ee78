"""The caller's tenant settings (/v1/tenant) and recipient deletion (/v1/recipients)."""

from __future__ import annotations

import msgspec
from litestar import delete, get, patch
from litestar.params import FromPath, FromQuery, JSONBody

from control.api.context import Ctx, TenantId
from control.api.errors import ApiError
from control.db.models import Tenant
from control.privacy import delete_recipient_clicks


class TenantOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    truncate_ips: bool  # store only the /24 (IPv4) or /48 (IPv6) of each click
    retention_days: int  # clicks older than this are deleted hourly; 0 keeps them


class TenantPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    truncate_ips: bool | None = None
    retention_days: int | None = None


class Deleted(msgspec.Struct):
    deleted: int


def tenant_out(t: Tenant) -> TenantOut:
    return TenantOut(
        id=t.id, name=t.name, truncate_ips=t.truncate_ips, retention_days=t.retention_days
    )


@get("/v1/tenant", sync_to_thread=True, tags=["tenant"])
def get_tenant(tenant_id: TenantId, ctx: Ctx) -> TenantOut:
    with ctx.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None  # the API key resolved to it
        return tenant_out(tenant)


@patch("/v1/tenant", sync_to_thread=True, tags=["tenant"])
def update_tenant(data: JSONBody[TenantPatch], tenant_id: TenantId, ctx: Ctx) -> TenantOut:
    """Switch IP truncation, or set click retention in days (0 keeps clicks forever)."""
    if data.retention_days is not None and not 0 <= data.retention_days <= 36500:
        raise ApiError(400, "bad_request", "retention_days: must be 0-36500")
    with ctx.sessions.begin() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        if data.truncate_ips is not None:
            tenant.truncate_ips = data.truncate_ips
        if data.retention_days is not None:
            tenant.retention_days = data.retention_days
        return tenant_out(tenant)


@delete(
    "/v1/recipients/{recipient:str}/clicks", sync_to_thread=True, status_code=200, tags=["tenant"]
)
def delete_recipient(recipient: FromPath[str], tenant_id: TenantId, ctx: Ctx) -> Deleted:
    """Remove every click of one recipient: the address, or the reference sent with it."""
    return _delete_recipient(recipient, tenant_id, ctx)


@delete("/v1/recipients/clicks", sync_to_thread=True, status_code=200, tags=["tenant"])
def delete_recipient_by_query(recipient: FromQuery[str], tenant_id: TenantId, ctx: Ctx) -> Deleted:
    """The same, the recipient given as ?recipient=: for references with a "/" in them,
    which cannot be one path segment."""
    return _delete_recipient(recipient, tenant_id, ctx)


def _delete_recipient(recipient: str, tenant_id: int, ctx: Ctx) -> Deleted:
    if not recipient or len(recipient) > 320 or "\x00" in recipient:
        raise ApiError(400, "bad_request", "recipient: 1-320 characters, no NUL")
    with ctx.sessions.begin() as session:
        return Deleted(delete_recipient_clicks(session, tenant_id, recipient))
