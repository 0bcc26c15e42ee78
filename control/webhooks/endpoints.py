"""Webhook endpoints of a tenant: create (secret shown once), read, enable, delete, replay."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from control import streams
from control.clock import now_ms
from control.db.models import Stream, WebhookDelivery, WebhookEndpoint
from control.webhooks.outbox import queue_missing
from control.webhooks.signing import new_secret
from edge.sealing import Sealer

EVENTS = ("click",)
MODES = ("every", "first_human")
DEFAULT_OVERLAP_S = 24 * 3600  # a day for receivers to pick up a rotated secret
MAX_OVERLAP_S = 30 * 24 * 3600


def _context(tenant_id: int) -> bytes:
    return f"webhook-secret:{tenant_id}".encode()


def endpoint_secret(sealer: Sealer, endpoint: WebhookEndpoint) -> str:
    return sealer.open(endpoint.secret, _context(endpoint.tenant_id)).decode()


def signing_secrets(sealer: Sealer, endpoint: WebhookEndpoint, now: int) -> list[str]:
    """The current secret, then the previous one while its overlap lasts."""
    keys = [endpoint_secret(sealer, endpoint)]
    old = endpoint.previous_secret
    if old is not None and previous_secret_expiry(endpoint, now) is not None:
        keys.append(sealer.open(old, _context(endpoint.tenant_id)).decode())
    return keys


def previous_secret_expiry(endpoint: WebhookEndpoint, now: int) -> int | None:
    """When the previous secret stops signing, while it still does; else None."""
    expires = endpoint.previous_expires_ms
    if endpoint.previous_secret is None or expires is None or expires <= now:
        return None
    return expires


def rotate_secret(
    sealer: Sealer, endpoint: WebhookEndpoint, overlap_s: int = DEFAULT_OVERLAP_S
) -> str:
    """A new secret; the current one keeps signing for overlap_s more seconds.

    Only two secrets ever sign: a rotation during an overlap drops the oldest one."""
    if not 0 <= overlap_s <= MAX_OVERLAP_S:
        raise ValueError(f"expire_after_seconds must be 0-{MAX_OVERLAP_S}")
    secret = new_secret()
    now = now_ms()
    endpoint.previous_secret = endpoint.secret if overlap_s else None
    endpoint.previous_expires_ms = now + overlap_s * 1000 if overlap_s else None
    endpoint.secret = sealer.seal(secret.encode(), _context(endpoint.tenant_id))
    endpoint.changed_ms = now
    return secret


def check_stream(session: Session, tenant_id: int, stream: str | None) -> None:
    """An endpoint scoped to a stream needs the tenant to have that stream."""
    if stream is None:
        return
    found = session.scalar(
        select(Stream.id).where(Stream.tenant_id == tenant_id, Stream.name == stream)
    )
    if found is None:
        raise ValueError(f"no message stream named {stream!r}")


# Headers every delivery sets itself; a second copy would contradict it.
_OUR_HEADERS = frozenset({"content-type", "content-length", "host", "user-agent"})
# Framing and connection headers (RFC 9110 7.6.1): a "Transfer-Encoding: chunked" of an
# endpoint's made the receiver read the JSON body as empty.
_HOP_BY_HOP = frozenset(
    {"transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "expect"}
)
# Headers describing the body: ours is plain JSON, and a "Content-Encoding: gzip" of an
# endpoint's would make the receiver try to unpack it.
_BODY_HEADERS = frozenset({"content-encoding", "content-range", "content-location", "digest"})
MAX_HEADERS = 32
MAX_HEADER_BYTES = 16384  # names and values together: receivers refuse much more
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 4096
MAX_URL = 2048  # what browsers and most receivers' servers accept in a request line
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")  # what http.client can send


def validate(url: str, events: list[str], mode: str, headers: dict[str, str]) -> None:
    """Raise ValueError naming what is wrong with an endpoint's settings."""
    if _CONTROL_OR_SPACE.search(url):  # NUL, newlines, ...: no receiver's URL has them
        raise ValueError("url must not contain spaces or control characters")
    if not url.isascii():  # http.client sends ASCII request lines only: every send would fail
        raise ValueError("url must be ASCII: percent-encode the path, punycode the host")
    parts = urlsplit(url)
    try:
        port = parts.port  # reading it checks it (a ValueError past 65535)
    except ValueError:
        port = 0
    if port == 0:  # port 0 is no port anyone listens on
        raise ValueError("url has an invalid port")
    if parts.username is not None or parts.password is not None:
        # http.client would not send them, and GET /v1/webhooks would show them.
        raise ValueError("url must not hold credentials: send an Authorization header")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("url must be an absolute http(s) URL")
    if len(url) > MAX_URL:
        raise ValueError(f"url: at most {MAX_URL} characters")
    if not events or any(e not in EVENTS for e in events):
        raise ValueError(f"events must be a non-empty list of {', '.join(EVENTS)}")
    if len(set(events)) != len(events):
        raise ValueError("events must not name an event twice")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"headers: at most {MAX_HEADERS}")
    if sum(len(k) + len(v) for k, v in headers.items()) > MAX_HEADER_BYTES:
        raise ValueError(f"headers: at most {MAX_HEADER_BYTES} characters in all")
    seen: set[str] = set()
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("webhook-") or lowered in _OUR_HEADERS or lowered in _BODY_HEADERS:
            raise ValueError(f"header {name!r} is set by clickgate")
        if lowered in _HOP_BY_HOP or lowered.startswith("proxy-"):
            raise ValueError(f"header {name!r} is about the connection, not the event")
        if lowered in seen:
            raise ValueError(f"header {name!r} is given twice (names ignore case)")
        seen.add(lowered)
        if len(name) > MAX_HEADER_NAME:
            raise ValueError(f"header name {name[:40]!r}...: at most {MAX_HEADER_NAME} characters")
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"header name {name!r} is not an HTTP token")
        if len(value) > MAX_HEADER_VALUE:
            raise ValueError(f"header {name!r}: value of at most {MAX_HEADER_VALUE} characters")
        if not _HEADER_VALUE.fullmatch(value):
            raise ValueError(f"header {name!r}: value must be printable Latin-1, no newlines")


def create_endpoint(
    session: Session, sealer: Sealer, tenant_id: int, **fields: Any
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned this once, stored sealed)."""
    validate(fields["url"], fields["events"], fields["mode"], fields["headers"])
    if fields.get("stream") is not None:
        fields["stream"] = streams.stored_name(fields["stream"])
    check_stream(session, tenant_id, fields.get("stream"))
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
    """Send the endpoint's events of [from_ms, to_ms) again, with their webhook-ids, and
    queue its clicks of the range that were never queued (made while it was disabled)."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is not None:
        queue_missing(session, endpoint, from_ms, to_ms)  # counted by the update below
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.event_time_ms >= from_ms,
            WebhookDelivery.event_time_ms < to_ms,
        )
        .values(
            status="pending",
            attempts=0,
            next_attempt_ms=now_ms(),
            locked_by="",  # as in retry_delivery: an attempt in flight cannot undo this
            locked_until_ms=0,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)  # the new rows are among them


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
    # Unlocked by name too: an attempt still in flight then sees the row is no longer
    # its own, and its result cannot undo this retry (Dispatcher.record).
    delivery.locked_by, delivery.locked_until_ms = "", 0
    return delivery
