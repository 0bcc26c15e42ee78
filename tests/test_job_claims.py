"""Background jobs claim their work through the database, so control plane replicas never
do the same work twice: DNS checks, certificate attempts, the retention pass.

The races are played with two sessions (two connections, as two replicas would have):
the first claims and holds its transaction open, the second tries meanwhile.
tests/integration/test_control_replicas.py does the same with real processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from control.acme.store import claim_attempt
from control.clock import now_ms
from control.db.engine import make_engine, make_sessionmaker
from control.db.migrate import upgrade
from control.db.models import Certificate, Domain, Tenant
from control.dblock import lock_key, try_job_lock
from control.domains import CHECK_LEASE_MS, claim_check, register_domain


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def new_domain(sessions: sessionmaker[Session], name: str) -> int:
    with sessions.begin() as session:
        tenant = Tenant(name=f"t-{name}", created_ms=now_ms())
        session.add(tenant)
        session.flush()
        return register_domain(session, tenant.id, name).id


def is_postgres(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        return session.get_bind().dialect.name == "postgresql"


def race(sessions: sessionmaker[Session], claim: Callable[[Session], bool]) -> tuple[bool, bool]:
    """First claims and holds its transaction for a moment; second claims meanwhile."""
    second: list[bool] = []
    with sessions.begin() as first_session:
        first = claim(first_session)

        def other() -> None:
            with sessions.begin() as session:
                second.append(claim(session))

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)  # on PostgreSQL the second now waits for the first's row lock
    thread.join(10)
    assert second, "the second claim never finished"
    return first, second[0]


def test_a_due_dns_check_is_claimed_once(sessions: sessionmaker[Session]) -> None:
    domain_id = new_domain(sessions, "dns.brand.test")
    if is_postgres(sessions):
        assert race(sessions, lambda s: claim_check(s, domain_id)) == (True, False)
    else:  # SQLite has one writer: the second claim simply comes after the first
        with sessions.begin() as session:
            assert claim_check(session, domain_id)
        with sessions.begin() as session:
            assert not claim_check(session, domain_id)
    with sessions() as session:
        domain = session.get(Domain, domain_id)
        assert domain is not None and domain.next_check_ms > now_ms() + CHECK_LEASE_MS - 5000


def test_a_certificate_attempt_is_claimed_once_even_for_a_new_row(
    sessions: sessionmaker[Session],
) -> None:
    """No certificate row yet: both replicas try to create it; one wins, no error."""
    domain_id = new_domain(sessions, "cert.brand.test")
    if is_postgres(sessions):
        assert race(sessions, lambda s: claim_attempt(s, domain_id)) == (True, False)
    else:
        with sessions.begin() as session:
            assert claim_attempt(session, domain_id)
        with sessions.begin() as session:
            assert not claim_attempt(session, domain_id)
    with sessions() as session:
        rows = session.scalars(select(Certificate).where(Certificate.domain_id == domain_id))
        assert len(rows.all()) == 1


def test_the_retention_pass_runs_on_one_replica_at_a_time(
    sessions: sessionmaker[Session],
) -> None:
    if not is_postgres(sessions):
        with sessions.begin() as session:
            assert try_job_lock(session, "job")  # one writer already serialises the job
        return
    with sessions.begin() as first:
        assert try_job_lock(first, "job")
        with sessions.begin() as second:
            assert not try_job_lock(second, "job")  # held: this replica skips its pass
            assert try_job_lock(second, "another job")
    with sessions.begin() as later:
        assert try_job_lock(later, "job")  # released with the first transaction


def test_lock_keys_are_stable_signed_64_bit_numbers() -> None:
    assert lock_key("clickgate.retention") == lock_key("clickgate.retention")
    assert lock_key("a") != lock_key("b")
    assert -(2**63) <= lock_key("clickgate.retention") < 2**63
