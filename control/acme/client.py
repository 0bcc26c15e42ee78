"""The ACME client: our account (key sealed in the database), badNonce retries, Retry-After."""

from __future__ import annotations

import logging
from typing import Any

import requests
from acme import client, errors, messages
from cryptography.hazmat.primitives.asymmetric import rsa
from josepy.jwk import JWKRSA
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from control.clock import now_ms
from control.db.models import AcmeAccount
from control.settings import ControlSettings
from edge.sealing import Sealer

log = logging.getLogger("clickgate.control.acme")

NONCE_RETRIES = 8  # CAs may reject any nonce (RFC 8555 6.5); each retry takes a fresh one
USER_AGENT = "clickgate"


class Network(client.ClientNetwork):
    """Retries badNonce more than once and remembers the last Retry-After the CA sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after_s = 0

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response = super()._send_request(method, url, *args, **kwargs)
        value = response.headers.get("Retry-After", "")
        self.retry_after_s = int(value) if value.isdigit() else 0
        return response

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for _ in range(NONCE_RETRIES):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce":
                    raise
        return self._post_once(*args, **kwargs)


def _account_context(directory: str) -> bytes:
    return f"acme-account:{directory}".encode()


def account_key(sessions: sessionmaker[Session], sealer: Sealer, directory: str) -> JWKRSA:
    """The account key for this directory, created (and sealed at rest) on first use."""
    with sessions.begin() as session:
        row = session.scalar(select(AcmeAccount).where(AcmeAccount.directory_url == directory))
        if row is not None:
            data = sealer.open(row.key_sealed, _account_context(directory))
            return JWKRSA.json_loads(data)
        key = JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
        sealed = sealer.seal(key.json_dumps().encode(), _account_context(directory))
        session.add(AcmeAccount(directory_url=directory, key_sealed=sealed, created_ms=now_ms()))
        return key


def connect(
    settings: ControlSettings, sessions: sessionmaker[Session], sealer: Sealer
) -> tuple[client.ClientV2, JWKRSA]:
    """A client logged in to our account (registering it the first time)."""
    key = account_key(sessions, sealer, settings.acme_directory)
    verify: bool | str = settings.acme_ca_bundle or True
    net = Network(key, verify_ssl=verify, user_agent=USER_AGENT, timeout=15)
    directory = client.ClientV2.get_directory(settings.acme_directory, net)
    acme = client.ClientV2(directory, net)
    contact = (f"mailto:{settings.acme_contact}",) if settings.acme_contact else ()
    registration = messages.NewRegistration.from_data(terms_of_service_agreed=True)
    if contact:
        registration = registration.update(contact=contact)
    try:
        acme.new_account(registration)
    except errors.ConflictError as exc:  # the key already has an account: log in to it
        existing = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
        acme.net.account = existing
    return acme, key
