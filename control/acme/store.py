"""Certificate rows: sealed private keys, renewal times, failure backoff and the hourly cap."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import Certificate, Domain
from control.keys import bump_revision
from edge.sealing import Sealer

HOUR_MS = 3600_000
MAX_RETRY_MS = 6 * HOUR_MS
LEASE_MS = 10 * 60_000  # an attempt in flight; also the retry delay if its process dies


@dataclass(frozen=True)
class Failure:
    message: str
    validation_failed: bool = False  # the CA tried and the challenge did not pass
    retry_after_ms: int = 0  # the CA's Retry-After, when it sent one


def _key_context(domain_id: int) -> bytes:
    return f"certificate-key:{domain_id}".encode()


def certificate_key(sealer: Sealer, cert: Certificate) -> bytes:
    return sealer.open(cert.key_sealed, _key_context(cert.domain_id))


def cert_row(session: Session, domain_id: int) -> Certificate:
    cert = session.scalar(select(Certificate).where(Certificate.domain_id == domain_id))
    if cert is None:
        cert = Certificate(domain_id=domain_id, failed_validations_ms=[])
        session.add(cert)
        session.flush()
    return cert


def renewal_time_ms(not_before_ms: int, not_after_ms: int) -> int:
    """Two thirds into the lifetime plus up to 1/20 of it in jitter, so renewals spread out."""
    lifetime = max(not_after_ms - not_before_ms, 0)
    return not_before_ms + lifetime * 2 // 3 + int(random.random() * lifetime / 20)


def store_issued(
    session: Session,
    sealer: Sealer,
    domain_id: int,
    chain_pem: str,
    key_pem: bytes,
    ari_renewal_ms: int | None = None,
) -> Certificate:
    """Keep the new chain and (sealed) key, schedule renewal, and publish to edges.

    Renewal is due at two thirds of the lifetime, or earlier when the CA's ARI window
    says so (CAs move that window forward ahead of a mass revocation).
    """
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    not_before = int(leaf.not_valid_before_utc.timestamp() * 1000)
    not_after = int(leaf.not_valid_after_utc.timestamp() * 1000)
    cert = cert_row(session, domain_id)
    cert.chain_pem = chain_pem
    cert.key_sealed = sealer.seal(key_pem, _key_context(domain_id))
    cert.issuer = leaf.issuer.rfc4514_string()
    cert.not_after_ms, cert.issued_ms = not_after, now_ms()
    cert.renew_at_ms = min(ari_renewal_ms or not_after, renewal_time_ms(not_before, not_after))
    cert.next_attempt_ms = cert.renew_at_ms
    cert.failures, cert.last_error = 0, ""
    bump_revision(session)
    return cert


def recent_failed_validations(cert: Certificate, now: int) -> list[int]:
    return [int(t) for t in (cert.failed_validations_ms or []) if now - int(t) < HOUR_MS]


def store_failure(session: Session, domain_id: int, failure: Failure, base_ms: int) -> Certificate:
    """Back off exponentially, never sooner than the CA's Retry-After or the hourly cap allows."""
    now = now_ms()
    cert = cert_row(session, domain_id)
    cert.failures += 1
    cert.last_error = failure.message[:1000]
    failed = recent_failed_validations(cert, now)
    if failure.validation_failed:
        failed.append(now)
    cert.failed_validations_ms = failed
    delay = min(base_ms * 2 ** min(cert.failures - 1, 20), MAX_RETRY_MS)
    cert.next_attempt_ms = now + max(delay, failure.retry_after_ms)
    return cert


def may_attempt(cert: Certificate | None, cap: int, now: int) -> bool:
    """Due, and under the per-domain cap of failed validations in the last hour."""
    if cert is None:
        return True
    if cert.next_attempt_ms > now:
        return False
    return len(recent_failed_validations(cert, now)) < cap


def due_for_certificate(session: Session, cap: int) -> list[int]:
    """Verified customer domains without a valid certificate, or due for renewal."""
    now = now_ms()
    rows = session.execute(
        select(Domain.id, Certificate)
        .outerjoin(Certificate, Certificate.domain_id == Domain.id)
        .where(Domain.custom, Domain.dns_state == "verified")
        .order_by(Domain.id)
    )
    return [domain_id for domain_id, cert in rows if may_attempt(cert, cap, now)]


def _ensure_row(session: Session, domain_id: int) -> None:
    """Create the domain's row unless it exists; two replicas may race to create it."""
    if session.scalar(select(Certificate.id).where(Certificate.domain_id == domain_id)):
        return
    try:
        with session.begin_nested():
            session.add(Certificate(domain_id=domain_id, failed_validations_ms=[]))
    except IntegrityError:
        pass  # the other replica's row won (unique domain_id); the UPDATE below decides


def claim_attempt(session: Session, domain_id: int) -> bool:
    """Take the domain's next attempt for this process (several control planes may run).

    A conditional UPDATE is atomic on SQLite and PostgreSQL alike: only one caller sees
    its row count go to 1; the lease pushes next_attempt_ms out while the order runs.
    """
    _ensure_row(session, domain_id)
    now = now_ms()
    result = session.execute(
        update(Certificate)
        .where(Certificate.domain_id == domain_id, Certificate.next_attempt_ms <= now)
        .values(next_attempt_ms=now + LEASE_MS)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
