"""Background jobs of the control plane: DNS rechecks with backoff, certificate orders/renewals."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from control.acme.store import due_for_certificate
from control.db.models import Domain
from control.dnscheck import check_domain, make_resolver
from control.domains import claim_check, due_for_check, ownership_proof, record_check
from control.settings import ControlSettings
from edge.sealing import Sealer

log = logging.getLogger("clickgate.control.domains")

TICK_SECONDS = 0.5  # how often the jobs look for due work (cheap indexed queries)


def check_now(settings: ControlSettings, sessions: sessionmaker[Session], domain_id: int) -> None:
    """Look the domain up in DNS (outside any transaction) and store the outcome."""
    with sessions() as session:
        domain = session.get(Domain, domain_id)
        if domain is None or not domain.custom:
            return
        name, proof = domain.name, ownership_proof(domain)
    resolver = make_resolver(settings.dns_resolver)
    target, identities = settings.cname_target, settings.acme_caa_identities
    result = check_domain(resolver, name, target, identities, proof)
    with sessions.begin() as session:
        domain = session.get(Domain, domain_id)
        if domain is not None:
            record_check(session, domain, result, int(settings.dns_recheck_seconds * 1000))


def _check_due(
    settings: ControlSettings, sessions: sessionmaker[Session], stopping: threading.Event
) -> int:
    with sessions() as session:
        due = due_for_check(session)
    checked = 0
    for domain_id in due:
        if stopping.is_set():  # up to 50 due, 3 s each with a resolver that does not answer
            break
        with sessions.begin() as session:
            if not claim_check(session, domain_id):
                continue  # another control plane replica took it since the query
        check_now(settings, sessions, domain_id)
        checked += 1
    return checked


def _certify_due(
    settings: ControlSettings,
    sessions: sessionmaker[Session],
    sealer: Sealer,
    stopping: threading.Event,
) -> int:
    # Imported here, in the job's thread: the ACME client stack (acme, josepy, requests)
    # took 0.3 s of every control plane's start, and only a plane with an ACME directory
    # configured and a domain due ever uses it.
    from control.acme.issue import attempt_certificate

    # Every replica may find the same domains due: attempt_certificate claims each one
    # (store.claim_attempt), so only one replica orders and the others skip it.
    with sessions() as session:
        due = due_for_certificate(session, settings.acme_max_failed_validations)
    for domain_id in due:
        if stopping.is_set():
            break
        attempt_certificate(settings, sessions, sealer, domain_id)
    return len(due)


async def _in_thread(work: Callable[[threading.Event], object]) -> None:
    """Run one round of a job in a thread, telling it to stop between domains when the job
    is cancelled: the control plane's shutdown waits for that thread, and a whole round
    outlasted a pod's grace period."""
    stopping = threading.Event()
    try:
        await asyncio.to_thread(work, stopping)
    except asyncio.CancelledError:
        stopping.set()
        raise


async def dns_checks_forever(settings: ControlSettings, sessions: sessionmaker[Session]) -> None:
    """Check new domains at once, failed ones with backoff, verified ones every few hours."""
    if not settings.cname_target:
        return
    while True:
        try:
            await _in_thread(lambda stopping: _check_due(settings, sessions, stopping))
        except SQLAlchemyError as exc:
            log.error("DNS checks failed: %s", exc.__class__.__name__)
        except Exception:  # e.g. an unexpected resolver error: keep checking the others
            log.exception("DNS checks failed")
        await asyncio.sleep(TICK_SECONDS)


async def certificates_forever(
    settings: ControlSettings, sessions: sessionmaker[Session], sealer: Sealer
) -> None:
    """Order certificates for verified domains and renew them; one order at a time."""
    if not settings.acme_directory:
        return
    while True:
        try:
            await _in_thread(lambda stopping: _certify_due(settings, sessions, sealer, stopping))
        except SQLAlchemyError as exc:
            log.error("certificate job failed: %s", exc.__class__.__name__)
        except Exception:  # a CA's surprise must not end renewals for every domain
            log.exception("certificate job failed")
        await asyncio.sleep(TICK_SECONDS)
