"""Click domains: which host names serve which tenant's tracked links, and their lifecycle."""

from __future__ import annotations

import re
import secrets

import idna
from clickgate.v1 import config_pb2
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import AcmeChallenge, Certificate, Domain
from control.dnscheck import DnsResult, proof_name, proof_value
from control.keys import bump_revision
from control.tenants import Conflict, NotFound
from edge.sealing import Sealer

VERIFIED_RECHECK_MS = 6 * 3600_000  # a verified CNAME is confirmed every few hours
MAX_RECHECK_MS = 3600_000  # a pending/failed domain is retried at least hourly
CHECK_LEASE_MS = 60_000  # a DNS check in flight; also the retry delay if its process dies
# A registration that has not proved ownership in this time no longer blocks another
# tenant from registering the name: nobody can hold a domain they do not control.
CLAIM_RELEASE_MS = 72 * 3600_000
# A verified domain whose CNAME has pointed elsewhere (or nowhere) this long no longer
# blocks another tenant either: the name has changed hands or been given up, and links
# on it have not reached us since. The newcomer must still prove ownership (TXT).
LOST_RELEASE_MS = 30 * 24 * 3600_000

_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)


def normalize(name: str) -> str:
    host = name.strip().rstrip(".").lower()
    if not _HOSTNAME.fullmatch(host):
        raise ValueError(f"not a host name: {name!r}")
    return host


def customer_hostname(name: str, cname_target: str = "") -> str:
    """A customer's click domain as edges will see it in the Host header, or ValueError.

    Stricter than platform names: ACME can only certify a real DNS name, so no IP
    address, no single label, no all-numeric top-level label (RFC 3696 section 2; it
    also catches IPv4), no invalid punycode. Unicode names are converted to their
    ASCII form (`bücher.example` to `xn--bcher-kva.example`), which is what browsers
    send. The CNAME target, and names under it, are ours and cannot be claimed.
    """
    if name.strip().endswith(".."):  # one trailing dot is the root; two are an empty label
        raise ValueError(f"{name!r} has an empty label")
    labels = name.strip().removesuffix(".").split(".")
    ascii_labels = []
    for label in labels:
        # Only non-ASCII and xn-- labels go through IDNA: its stricter rules would also
        # refuse ASCII names that DNS allows, such as a hyphen in the third position.
        if not label.isascii() or label[:4].lower() == "xn--":
            try:
                label = idna.encode(label, uts46=True).decode("ascii")
            except idna.IDNAError as exc:
                raise ValueError(
                    f"not a valid internationalised host name {name!r}: {exc}"
                ) from None
        ascii_labels.append(label)
    host = normalize(".".join(ascii_labels))
    if host.count(".") < 1:
        raise ValueError(f"{host!r} is not a fully qualified domain name")
    if host.rsplit(".", 1)[1].isdigit():
        raise ValueError(f"{host!r} is an IP address or has an all-numeric top-level label")
    target = cname_target.strip().rstrip(".").lower()
    if target and (host == target or host.endswith("." + target)):
        raise ValueError(f"{host!r} is clickgate's own CNAME target, not a customer domain")
    return host


def stored_name(name: str) -> str:
    """The form a name is stored in, for lookups: a Unicode name finds its ASCII form."""
    try:
        return customer_hostname(name)
    except ValueError:  # a platform name ("localhost") or one that was never stored
        return name.strip().rstrip(".").lower()


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
        query = query.where(Domain.name == stored_name(name))
    else:
        query = query.order_by(Domain.is_default.desc(), Domain.id)
    domain = session.scalar(query.limit(1))
    if domain is None:
        raise NotFound(f"no click domain {name!r}" if name else "tenant has no click domain")
    return domain


class DomainNotReady(LookupError):
    """A customer click domain that edges do not serve yet (CNAME not seen)."""


def served(domain: Domain) -> Domain:
    """The domain, if edges serve it: links on a custom domain still pending would 404."""
    if domain.custom and domain.verified_ms is None:
        raise DomainNotReady(f"click domain {domain.name!r} is not verified yet (see its CNAME)")
    return domain


def register_domain(
    session: Session,
    tenant_id: int,
    name: str,
    https_only: bool = False,
    cname_target: str = "",
) -> Domain:
    """A customer's domain, pending until its CNAME is seen; one tenant per domain."""
    host = customer_hostname(name, cname_target)
    existing = session.scalar(select(Domain).where(Domain.name == host))
    if existing is not None:
        if not _claim_released(existing, tenant_id):
            # Same message whoever owns it: do not reveal other tenants' domains.
            raise Conflict(
                f"domain {host} is already registered (a registration that is not "
                f"verified within {CLAIM_RELEASE_MS // 3600_000} hours is released, and "
                f"so is one whose CNAME has not pointed at us for "
                f"{LOST_RELEASE_MS // (24 * 3600_000)} days)"
            )
        _delete(session, existing)
        session.flush()
    domain = Domain(
        tenant_id=tenant_id,
        name=host,
        created_ms=now_ms(),
        custom=True,
        dns_state="pending",
        dns_reason="waiting for the first DNS check",
        next_check_ms=0,
        https_only=https_only,
        verify_token=secrets.token_hex(16),
    )
    session.add(domain)
    session.flush()
    return domain


def _claim_released(domain: Domain, tenant_id: int) -> bool:
    """Another tenant's custom domain that never proved ownership within the release time,
    or whose CNAME DNS has shown pointing away from us for the lost-release time."""
    if not domain.custom or domain.tenant_id == tenant_id:
        return False
    now = now_ms()
    if domain.verified_ms is None:
        return now - domain.created_ms >= CLAIM_RELEASE_MS
    return domain.cname_lost_ms is not None and now - domain.cname_lost_ms >= LOST_RELEASE_MS


def ownership_proof(domain: Domain) -> tuple[str, str] | None:
    """The TXT record (name, value) that must exist before the domain is first verified."""
    if domain.verify_token is None or domain.verified_ms is not None:
        return None
    return proof_name(domain.name), proof_value(domain.verify_token)


def tenant_domain(session: Session, tenant_id: int, name: str) -> Domain:
    host = stored_name(name)
    query = select(Domain).where(Domain.tenant_id == tenant_id, Domain.name == host)
    domain = session.scalar(query)
    if domain is None:
        raise NotFound(f"no click domain {host!r}")
    return domain


def remove_domain(session: Session, tenant_id: int, name: str) -> None:
    """Edges stop serving it (and its certificate) at the next revision; renewals stop."""
    _delete(session, tenant_domain(session, tenant_id, name))


def release_domain(session: Session, name: str) -> tuple[str, int]:
    """The operator's removal, whichever tenant holds the name (a new owner's support
    request); returns the name and that tenant's id. Links on it stop working at the
    next revision."""
    host = stored_name(name)
    domain = session.scalar(select(Domain).where(Domain.name == host))
    if domain is None:
        raise NotFound(f"no click domain {host!r}")
    tenant_id = domain.tenant_id
    _delete(session, domain)
    return host, tenant_id


def _delete(session: Session, domain: Domain) -> None:
    session.execute(delete(AcmeChallenge).where(AcmeChallenge.domain_id == domain.id))
    session.execute(delete(Certificate).where(Certificate.domain_id == domain.id))
    session.delete(domain)
    bump_revision(session)


def record_check(session: Session, domain: Domain, result: DnsResult, base_ms: int) -> None:
    """Store a DNS check's outcome and when to look again (exponential backoff on failure)."""
    now = now_ms()
    was_served = domain.verified_ms is not None
    domain.checked_ms, domain.dns_reason = now, result.reason[:500]  # a String(500)
    if result.points_here:
        domain.cname_lost_ms = None
    elif result.points_here is False:  # None: DNS could not tell; the clock runs on
        domain.cname_lost_ms = domain.cname_lost_ms or now
    if result.verified:
        domain.dns_state, domain.dns_failures = "verified", 0
        domain.verified_ms = domain.verified_ms or now
        domain.next_check_ms = now + VERIFIED_RECHECK_MS
    else:
        domain.dns_state = "failed"
        domain.dns_failures += 1
        delay = min(base_ms * 2 ** min(domain.dns_failures - 1, 20), MAX_RECHECK_MS)
        domain.next_check_ms = now + delay
    if domain.verified_ms is not None and not was_served:
        bump_revision(session)  # edges start serving the domain


def due_for_check(session: Session, limit: int = 50) -> list[int]:
    query = (
        select(Domain.id)
        .where(Domain.custom, Domain.next_check_ms <= now_ms())
        .order_by(Domain.next_check_ms)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim_check(session: Session, domain_id: int) -> bool:
    """Take a due domain's DNS check for this process (several control planes may run).

    A conditional UPDATE: on PostgreSQL a second replica waits for the first one's row
    lock and then finds next_check_ms in the future, so exactly one of them sees a row
    count of 1. The lease stands until record_check sets the real next time.
    """
    now = now_ms()
    result = session.execute(
        update(Domain)
        .where(Domain.id == domain_id, Domain.custom, Domain.next_check_ms <= now)
        .values(next_check_ms=now + CHECK_LEASE_MS)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def snapshot_domains(session: Session) -> list[config_pb2.ClickDomain]:
    """Platform domains, and customer domains once their CNAME has been seen."""
    domains = session.scalars(select(Domain).order_by(Domain.id))
    certified = set(
        session.scalars(select(Certificate.domain_id).where(Certificate.chain_pem != ""))
    )
    return [
        # HTTPS-only takes effect only with a certificate: never redirect to a TLS error.
        config_pb2.ClickDomain(
            name=d.name, tenant_id=d.tenant_id, https_only=d.https_only and d.id in certified
        )
        for d in domains
        if not d.custom or d.verified_ms is not None
    ]


def set_https_only(session: Session, tenant_id: int, name: str, https_only: bool) -> Domain:
    domain = tenant_domain(session, tenant_id, name)
    if domain.https_only != https_only:
        domain.https_only = https_only
        bump_revision(session)
    return domain


def snapshot_challenges(session: Session) -> list[config_pb2.AcmeChallenge]:
    rows = session.execute(
        select(Domain.name, AcmeChallenge.token, AcmeChallenge.key_authorization)
        .join(AcmeChallenge, AcmeChallenge.domain_id == Domain.id)
        .where(Domain.custom, Domain.dns_state == "verified")
        .order_by(AcmeChallenge.id)
    )
    return [
        config_pb2.AcmeChallenge(domain=name, token=token, key_authorization=key_auth)
        for name, token, key_auth in rows
    ]


def snapshot_certificates(session: Session, sealer: Sealer) -> list[config_pb2.TlsCertificate]:
    from control.acme.store import certificate_key  # the acme package imports this module

    rows = session.execute(
        select(Domain.name, Certificate)
        .join(Certificate, Certificate.domain_id == Domain.id)
        .where(Certificate.chain_pem != "")
        .order_by(Domain.id)
    )
    return [
        config_pb2.TlsCertificate(
            domain=name,
            chain_pem=cert.chain_pem,
            private_key_pem=certificate_key(sealer, cert),
            not_after_ms=cert.not_after_ms or 0,
        )
        for name, cert in rows
    ]
