"""Click domains (/v1/domains): register a customer domain, see its DNS and certificate state."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import delete, get, patch, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from control.acme.jobs import check_now
from control.api.context import Ctx, TenantId
from control.api.errors import ApiError
from control.db.models import Certificate, Domain
from control.domains import (
    ownership_proof,
    register_domain,
    remove_domain,
    set_https_only,
    tenant_domain,
)
from control.tenants import Conflict, NotFound


class DomainIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    https_only: bool = False  # once certified: plain HTTP gets a 301 to HTTPS, plus HSTS


class DomainPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    https_only: bool


class DnsRecord(msgspec.Struct, kw_only=True):
    type: str
    name: str
    value: str


class CertificateOut(msgspec.Struct, kw_only=True):
    status: str  # none, issued, failing
    issuer: str
    not_after_ms: int | None
    next_renewal_ms: int | None
    next_attempt_ms: int | None
    last_error: str
    orders_placed: int


class DomainOut(msgspec.Struct, kw_only=True):
    name: str
    custom: bool  # a customer's domain (CNAME'd to us), not one of the platform's own
    state: str  # pending, verified, failed
    reason: str
    https_only: bool
    dns_record: DnsRecord | None  # the record to create at the customer's DNS provider
    # The TXT record proving ownership, needed until the domain is first verified.
    verification_record: DnsRecord | None
    checked_ms: int | None
    next_check_ms: int | None
    # Since when DNS has shown the name not CNAME'd to us (null while it is): 30 days
    # after, another tenant that proves ownership may register a verified domain.
    cname_lost_ms: int | None
    certificate: CertificateOut
    created_ms: int


class DomainList(msgspec.Struct):
    domains: list[DomainOut]


def certificate_out(cert: Certificate | None) -> CertificateOut:
    if cert is None:
        return CertificateOut(
            status="none", issuer="", not_after_ms=None, next_renewal_ms=None,
            next_attempt_ms=None, last_error="", orders_placed=0,
        )  # fmt: skip
    status = "issued" if cert.chain_pem else "none"
    if cert.last_error:
        status = "failing" if not cert.chain_pem else "renewal_failing"
    return CertificateOut(
        status=status,
        issuer=cert.issuer,
        not_after_ms=cert.not_after_ms,
        next_renewal_ms=cert.renew_at_ms,
        next_attempt_ms=cert.next_attempt_ms or None,
        last_error=cert.last_error,
        orders_placed=cert.orders_placed,
    )


def domain_out(d: Domain, cert: Certificate | None, target: str) -> DomainOut:
    record = DnsRecord(type="CNAME", name=d.name, value=target) if d.custom and target else None
    proof = ownership_proof(d)
    proof_record = DnsRecord(type="TXT", name=proof[0], value=proof[1]) if proof else None
    return DomainOut(
        name=d.name,
        custom=d.custom,
        state=d.dns_state,
        reason=d.dns_reason,
        https_only=d.https_only,
        dns_record=record,
        verification_record=proof_record,
        checked_ms=d.checked_ms,
        next_check_ms=d.next_check_ms if d.custom else None,
        cname_lost_ms=d.cname_lost_ms,
        certificate=certificate_out(cert),
        created_ms=d.created_ms,
    )


def _load(ctx: Ctx, tenant_id: int, name: str) -> DomainOut:
    with ctx.sessions() as session:
        try:
            domain = tenant_domain(session, tenant_id, name)
        except NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        cert = session.scalar(select(Certificate).where(Certificate.domain_id == domain.id))
        return domain_out(domain, cert, ctx.settings.cname_target)


@post("/v1/domains", sync_to_thread=True, status_code=201, tags=["domains"])
def create_domain(data: JSONBody[DomainIn], tenant_id: TenantId, ctx: Ctx) -> DomainOut:
    """Register a customer click domain; the answer names the CNAME and TXT records to create."""
    if not ctx.settings.cname_target:
        raise ApiError(409, "not_configured", "custom click domains are not enabled here")
    try:
        with ctx.sessions.begin() as session:
            domain = register_domain(
                session, tenant_id, data.name, data.https_only, ctx.settings.cname_target
            )
            return domain_out(domain, None, ctx.settings.cname_target)
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except IntegrityError:  # the same name registered by a concurrent request
        raise ApiError(
            409, "conflict", f"domain {data.name.strip()} is already registered"
        ) from None
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@get("/v1/domains", sync_to_thread=True, tags=["domains"])
def list_domains(tenant_id: TenantId, ctx: Ctx) -> DomainList:
    with ctx.sessions() as session:
        rows = session.execute(
            select(Domain, Certificate)
            .outerjoin(Certificate, Certificate.domain_id == Domain.id)
            .where(Domain.tenant_id == tenant_id)
            .order_by(Domain.id)
        ).all()
        target = ctx.settings.cname_target
        return DomainList([domain_out(d, c, target) for d, c in rows])


# Async on purpose: with a sync_to_thread PATCH on the same path, Litestar 2 hands this
# handler's un-awaited coroutine to the serializer (500). to_thread keeps the DB off the loop.
@get("/v1/domains/{name:str}", tags=["domains"])
async def show_domain(name: FromPath[str], tenant_id: TenantId, ctx: Ctx) -> DomainOut:
    """One domain: DNS state with the reason, the record to create, certificate status."""
    return await asyncio.to_thread(_load, ctx, tenant_id, name)


@patch("/v1/domains/{name:str}", sync_to_thread=True, tags=["domains"])
def update_domain(
    name: FromPath[str], data: JSONBody[DomainPatch], tenant_id: TenantId, ctx: Ctx
) -> DomainOut:
    """Opt in to (or out of) HTTPS-only: HTTP answers 301 to HTTPS with HSTS."""
    try:
        with ctx.sessions.begin() as session:
            set_https_only(session, tenant_id, name, data.https_only)
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return _load(ctx, tenant_id, name)


@post("/v1/domains/{name:str}/check", sync_to_thread=True, status_code=200, tags=["domains"])
def recheck_domain(name: FromPath[str], tenant_id: TenantId, ctx: Ctx) -> DomainOut:
    """Check DNS now (after fixing the record) instead of waiting for the schedule."""
    domain = _load(ctx, tenant_id, name)
    if domain.custom:
        with ctx.sessions() as session:
            domain_id = tenant_domain(session, tenant_id, name).id
        check_now(ctx.settings, ctx.sessions, domain_id)
    return _load(ctx, tenant_id, name)


@delete("/v1/domains/{name:str}", sync_to_thread=True, tags=["domains"])
def delete_domain(name: FromPath[str], tenant_id: TenantId, ctx: Ctx) -> None:
    """Stop serving the domain and renewing its certificate (custom domains only)."""
    try:
        with ctx.sessions.begin() as session:
            if not tenant_domain(session, tenant_id, name).custom:
                # Every link already sent on it would die, and the API cannot give it back.
                raise ApiError(
                    409, "platform_domain", "the platform's click domain is not yours to remove"
                )
            remove_domain(session, tenant_id, name)
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
