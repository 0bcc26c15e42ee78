"""One ACME HTTP-01 attempt for one verified domain: publish answers to edges, order, finalize."""

from __future__ import annotations

import datetime
import logging
import time

import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwk import JWK
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from control.acme.client import Network, connect
from control.acme.store import Failure, cert_row, claim_attempt, store_failure, store_issued
from control.clock import now_ms
from control.db.models import AcmeChallenge, ConfigRevision, Domain
from control.keys import bump_revision, connected_edges
from control.settings import ControlSettings
from edge.sealing import Sealer

log = logging.getLogger("clickgate.control.acme")

EDGE_ACK_SECONDS = 30.0  # how long every connected edge gets to load the challenge answers
ORDER_SECONDS = 90.0  # validation + finalization deadline for one order


class AttemptFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def attempt_certificate(
    settings: ControlSettings, sessions: sessionmaker[Session], sealer: Sealer, domain_id: int
) -> bool:
    """Order (or renew) the domain's certificate; record success or failure. True if issued."""
    with sessions() as session:
        domain = session.get(Domain, domain_id)
        # The only gate that matters: never order for anything but a verified customer domain.
        if domain is None or not domain.custom or domain.dns_state != "verified":
            return False
        name = domain.name
    with sessions.begin() as session:
        if not claim_attempt(session, domain_id):
            return False  # another control plane process is on it
    try:
        chain, key_pem, ari_ms = _order(settings, sessions, sealer, domain_id, name)
    except AttemptFailed as exc:
        log.warning("certificate for %s failed: %s", name, exc.failure.message)
        base_ms = int(settings.acme_retry_seconds * 1000)
        with sessions.begin() as session:
            store_failure(session, domain_id, exc.failure, base_ms)
        return False
    finally:
        _withdraw_challenges(sessions, domain_id)
    with sessions.begin() as session:
        if session.get(Domain, domain_id) is None:
            return False  # removed while we were ordering: do not resurrect it
        store_issued(session, sealer, domain_id, chain, key_pem, ari_ms)
    log.info("certificate issued for %s", name)
    return True


def _order(
    settings: ControlSettings,
    sessions: sessionmaker[Session],
    sealer: Sealer,
    domain_id: int,
    name: str,
) -> tuple[str, bytes, int | None]:
    net: client.ClientNetwork | None = None
    try:
        acme, account = connect(settings, sessions, sealer)
        net = acme.net
        key_pem = _new_private_key()
        with sessions.begin() as session:
            cert_row(session, domain_id).orders_placed += 1
        order = acme.new_order(crypto_util.make_csr(key_pem, [name]))
        answers = _http01_answers(order, account)
        _publish_challenges(sessions, domain_id, answers)
        for challb, response, _ in answers:
            acme.answer_challenge(challb, response)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=ORDER_SECONDS)
        order = acme.poll_and_finalize(order, deadline)
        ari_ms = _ari_renewal_ms(acme, order.fullchain_pem)
    except errors.ValidationError as exc:
        raise AttemptFailed(Failure(_validation_message(exc), validation_failed=True)) from None
    except messages.Error as exc:
        retry_ms = _retry_after_ms(net)
        raise AttemptFailed(Failure(f"CA refused: {exc}", retry_after_ms=retry_ms)) from None
    except (errors.Error, requests.RequestException, OSError) as exc:
        raise AttemptFailed(Failure(f"ACME error: {exc.__class__.__name__}: {exc}")) from None
    return order.fullchain_pem, key_pem, ari_ms


def _ari_renewal_ms(acme: client.ClientV2, chain_pem: str) -> int | None:
    """The CA's suggested renewal time (ARI) when it offers one; None otherwise."""
    try:
        when, _ = acme.renewal_time(chain_pem.encode())
    except errors.ARIError:
        return None
    return int(when.timestamp() * 1000) if when is not None else None


def _new_private_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


Answer = tuple[messages.ChallengeBody, challenges.ChallengeResponse, str]


def _http01_answers(order: messages.OrderResource, account: JWK) -> list[Answer]:
    answers: list[Answer] = []
    for authz in order.authorizations:
        if authz.body.status == messages.STATUS_VALID:
            continue  # the CA reused an earlier validation
        for challb in authz.body.challenges:
            if isinstance(challb.chall, challenges.HTTP01):
                response, validation = challb.response_and_validation(account)
                answers.append((challb, response, validation))
                break
        else:
            raise AttemptFailed(Failure("the CA offered no http-01 challenge"))
    return answers


def _publish_challenges(
    sessions: sessionmaker[Session], domain_id: int, answers: list[Answer]
) -> None:
    """Put the answers in the config and wait until every connected edge holds them.

    The CA validates from several vantage points, which may reach any edge, so asking
    it to validate before all edges serve the answer would burn a failed validation.
    """
    if not answers:
        return
    with sessions.begin() as session:
        for challb, _, validation in answers:
            token = challb.chall.encode("token")
            row = AcmeChallenge(
                domain_id=domain_id, token=token, key_authorization=validation, created_ms=now_ms()
            )
            session.add(row)
        bump_revision(session)
    with sessions() as session:
        target = session.scalar(select(ConfigRevision.revision).where(ConfigRevision.id == 1)) or 0
    _wait_for_edges(sessions, target)


def _wait_for_edges(sessions: sessionmaker[Session], revision: int) -> None:
    deadline = time.monotonic() + EDGE_ACK_SECONDS
    while True:
        with sessions() as session:
            edges = connected_edges(session)
            behind = [e.edge_id for e in edges if e.revision < revision]
        if not edges:
            raise AttemptFailed(Failure("no edge is connected to answer the challenge"))
        if not behind:
            return
        if time.monotonic() > deadline:
            raise AttemptFailed(Failure(f"edges did not load the challenge: {', '.join(behind)}"))
        time.sleep(0.1)


def _withdraw_challenges(sessions: sessionmaker[Session], domain_id: int) -> None:
    with sessions.begin() as session:
        query = select(AcmeChallenge.id).where(AcmeChallenge.domain_id == domain_id)
        if session.scalars(query).first() is not None:
            session.execute(delete(AcmeChallenge).where(AcmeChallenge.domain_id == domain_id))
            bump_revision(session)


def _validation_message(exc: errors.ValidationError) -> str:
    details = [
        str(challb.error.detail or challb.error.typ)
        for authzr in exc.failed_authzrs
        for challb in authzr.body.challenges
        if challb.error is not None
    ]
    return "validation failed: " + ("; ".join(details) or "no detail from the CA")


def _retry_after_ms(net: client.ClientNetwork | None) -> int:
    return net.retry_after_s * 1000 if isinstance(net, Network) else 0
