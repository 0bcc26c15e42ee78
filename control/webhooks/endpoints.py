"""Webhook endpoints of a tenant: create (secret shown once), read, enable, delete, replay."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import WebhookDelivery, WebhookEndpoint
from control.webhooks.signing import new_secret
from edge.sealing import Sealer

EVENTS = ("click",)
MODES = ("every", "first_human")


def _context(tenant_id: int) -> bytes:
    return f"webhook-secret:{tenant_id}".encode()


def endpoint_secret(sealer: Sealer, endpoint: WebhookEndpoint) -> str:
    return sealer.open(endpoint.secret, _context(endpoint.tenant_id)).decode()


def validate(url: str, events: list[str], mode: str, headers: dict[str, str]) -> None:
    """Raise ValueError naming what is wrong with an endpoint's settings."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 2048:
        raise ValueError("url must be an absolute http(s) URL")
    if not events or any(e not in EVENTS for e in events):
        raise ValueError(f"events must be a non-empty list of {', '.join(EVENTS)}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    for name, value in headers.items():
        bad = not name.isascii() or ":" in name or any(c in name + value for c in "\r\n\0")
        if bad or not name or name.lower().startswith("webhook-"):
            raise ValueError(f"header {name!r} is not allowed")


def create_endpoint(
    session: Session, sealer: Sealer, tenant_id: int, **fields: Any
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned this once, stored sealed)."""
    validate(fields["url"], fields["events"], fields["mode"], fields["headers"])
    secret = new_secret()
    now = now_ms()
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id,
        secret=sealer.seal(secret.encode(), _context(tenant_id)),
        enabled=True,
        disabled_reason="",
        created_ms=now,
        changed_ms=now,
        **fields,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def find_endpoint(session: Session, tenant_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.tenant_id != tenant_id:
        raise LookupError(f"no webhook endpoint {endpoint_id}")
    return endpoint


def set_enabled(session: Session, endpoint: WebhookEndpoint, enabled: bool) -> None:
    endpoint.enabled = enabled
    endpoint.disabled_reason = "" if enabled else "disabled through the API"
    endpoint.changed_ms = now_ms()


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)


def replay(session: Session, endpoint_id: int, from_ms: int, to_ms: int) -> int:
    """Send the endpoint's events of [from_ms, to_ms) again, with their webhook-ids."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.event_time_ms >= from_ms,
            WebhookDelivery.event_time_ms < to_ms,
        )
        .values(status="pending", attempts=0, next_attempt_ms=now_ms(), locked_until_ms=0)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def retry_delivery(session: Session, tenant_id: int, delivery_id: str) -> WebhookDelivery:
    delivery = session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.tenant_id == tenant_id
        )
    )
    if delivery is None:
        raise LookupError(f"no delivery {delivery_id}")
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_ms = now_ms()
    delivery.locked_until_ms = 0
    return delivery
