"""Certificate bookkeeping: renewal time, backoff, Retry-After, the hourly cap, the order gate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from control.acme.issue import attempt_certificate
from control.acme.store import (
    HOUR_MS,
    Failure,
    claim_attempt,
    due_for_certificate,
    may_attempt,
    renewal_time_ms,
    store_failure,
)
from control.clock import now_ms
from control.db.engine import make_engine, make_sessionmaker
from control.db.migrate import upgrade
from control.db.models import Domain, Tenant
from control.dnscheck import DnsResult
from control.domains import record_check, register_domain
from control.settings import ControlSettings
from tests.cluster import MASTER_KEY


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def new_domain(sessions: sessionmaker[Session], name: str, verified: bool) -> int:
    with sessions.begin() as session:
        tenant = Tenant(name=f"t-{name}", created_ms=now_ms())
        session.add(tenant)
        session.flush()
        domain = register_domain(session, tenant.id, name)
        record_check(session, domain, DnsResult(verified, "test"), 1000)
        return domain.id


def test_renewal_at_two_thirds_plus_a_little_jitter() -> None:
    for _ in range(50):
        at = renewal_time_ms(0, 90_000)
        assert 60_000 <= at <= 64_500


def test_failures_back_off_and_respect_retry_after(sessions: sessionmaker[Session]) -> None:
    domain_id = new_domain(sessions, "a.brand.test", verified=True)
    with sessions.begin() as session:
        first = store_failure(session, domain_id, Failure("x"), 1000).next_attempt_ms - now_ms()
        second = store_failure(session, domain_id, Failure("x"), 1000).next_attempt_ms - now_ms()
        told = store_failure(session, domain_id, Failure("x", retry_after_ms=HOUR_MS), 1000)
    assert 900 <= first <= 1000 and 1900 <= second <= 2000
    assert told.next_attempt_ms - now_ms() > HOUR_MS - 1000


def test_failed_validations_are_capped_per_hour(sessions: sessionmaker[Session]) -> None:
    domain_id = new_domain(sessions, "b.brand.test", verified=True)
    with sessions.begin() as session:
        for _ in range(3):
            cert = store_failure(session, domain_id, Failure("bad", validation_failed=True), 1)
        cert.next_attempt_ms = 0
        assert not may_attempt(cert, cap=3, now=now_ms())
        assert may_attempt(cert, cap=4, now=now_ms())
        assert may_attempt(cert, cap=3, now=now_ms() + HOUR_MS)  # an hour later


def test_only_verified_customer_domains_are_ever_ordered(sessions: sessionmaker[Session]) -> None:
    verified = new_domain(sessions, "c.brand.test", verified=True)
    failed = new_domain(sessions, "d.brand.test", verified=False)
    with sessions.begin() as session:
        assert due_for_certificate(session, cap=5) == [verified]
        platform = Domain(tenant_id=1, name="click.platform.test", created_ms=0)
        session.add(platform)
        session.flush()
        assert due_for_certificate(session, cap=5) == [verified]
    settings = ControlSettings(master_key=MASTER_KEY, acme_directory="https://ca.invalid/dir")
    # Not verified (or not a customer domain): refused before any network traffic.
    assert attempt_certificate(settings, sessions, settings.sealer, failed) is False
    assert attempt_certificate(settings, sessions, settings.sealer, platform.id) is False


def test_one_process_claims_an_attempt(sessions: sessionmaker[Session]) -> None:
    domain_id = new_domain(sessions, "e.brand.test", verified=True)
    with sessions.begin() as session:
        assert claim_attempt(session, domain_id)
    with sessions.begin() as session:
        assert not claim_attempt(session, domain_id)
        assert due_for_certificate(session, cap=5) == []
