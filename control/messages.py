"""Rewriting one message's links for a tenant: stream defaults, one key per message, a record."""

from __future__ import annotations

from typing import Final

import msgspec
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from control.clock import now_ms
from control.db.models import Domain, Message, Stream
from control.domains import domain_for, served, tenant_domain
from control.fields import MAX_TAG_CHARS, MAX_TAGS, MessageId, Name, Recipient, Tags
from control.keys import active_key, key_secret
from control.links import recipient_ref
from control.rewrite import (
    LinkReport,
    Minter,
    RewriteOptions,
    TagsRefused,
    UrlTooLong,
    rewrite_message,
)
from control.rollups.deltas import Deltas
from control.rollups.facts import tags_text
from control.settings import ControlSettings
from control.streams import TRACK_MODES, TrackLinks, check_url_params, resolve_stream
from control.tenants import Conflict, NotFound
from edge import token

MAX_BODY_BYTES: Final = 5 * 1024 * 1024  # per body, UTF-8
# The JSON request holding two such bodies: escaping (\" and \uXXXX) can triple them.
MAX_REQUEST_BYTES: Final = 32 * 1024 * 1024

_LOCATIONS: Final = {"html": token.LOCATION_HTML, "text": token.LOCATION_TEXT}


class RewriteRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    message_id: MessageId
    recipient: Recipient | None = None  # only an opaque reference (hash) goes into the links
    tags: Tags = []
    stream: Name | None = None  # None: the tenant's default stream
    domain: Name | None = None  # None: the stream's domain, else the tenant's default
    track_links: TrackLinks | None = None  # None: the stream's mode
    url_params: dict[str, str] | None = None  # merged over the stream's
    html: str | None = None
    text: str | None = None


class RewriteResponse(msgspec.Struct, kw_only=True):
    html: str | None
    text: str | None
    links: list[LinkReport]
    message_id: str
    stream: str
    domain: str
    tracked_links: int


class BodyTooLarge(ValueError):
    """An html or text body over MAX_BODY_BYTES."""


class Plan(msgspec.Struct):
    """What one rewrite needs from the database, fetched once per message."""

    stream: str
    domain: str
    options: RewriteOptions
    mint: Minter


def rewrite(
    sessions: sessionmaker[Session], settings: ControlSettings, tenant_id: int, req: RewriteRequest
) -> RewriteResponse:
    """Rewrite and record the message. Raises ValueError (BodyTooLarge), NotFound, Conflict,
    DomainNotReady, NoSigningKey."""
    check_request(req)
    now = now_ms()
    plan = _plan_once(sessions, settings, tenant_id, req, now // 1000)
    result = rewrite_message(req.html, req.text, plan.mint, plan.options)
    tracked = sum(1 for link in result.links if link.tracked_url is not None)
    with sessions.begin() as session:
        record_message(
            session, tenant_id, req.message_id, plan.stream, req.tags, tracked, now, plan.domain
        )
    return RewriteResponse(
        html=result.html,
        text=result.text,
        links=result.links,
        message_id=req.message_id,
        stream=plan.stream,
        domain=plan.domain,
        tracked_links=tracked,
    )


def check_request(req: RewriteRequest) -> None:
    if req.html is None and req.text is None:
        raise ValueError("give html, text or both")
    for name, body in (("html", req.html), ("text", req.text)):
        if body is not None and _utf8_len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge(f"{name} is over {MAX_BODY_BYTES} bytes")
    if req.url_params:
        check_url_params(req.url_params)


def _utf8_len(body: str) -> int:
    if len(body) * 4 <= MAX_BODY_BYTES:  # cannot be over: skip the copy
        return len(body)
    return len(body.encode("utf-8", "surrogatepass"))


def _plan_once(
    sessions: sessionmaker[Session],
    settings: ControlSettings,
    tenant_id: int,
    req: RewriteRequest,
    sent_at: int,
) -> Plan:
    try:
        with sessions.begin() as session:
            return plan_rewrite(session, settings, tenant_id, req, sent_at)
    except (IntegrityError, Conflict):
        # Another request created the default stream between our look and our insert
        # (a unique violation, or a Conflict when its commit came before our own check):
        # a new transaction sees it. A genuine Conflict simply happens again.
        with sessions.begin() as session:
            return plan_rewrite(session, settings, tenant_id, req, sent_at)


def plan_rewrite(
    session: Session, settings: ControlSettings, tenant_id: int, req: RewriteRequest, sent_at: int
) -> Plan:
    stream = resolve_stream(session, tenant_id, req.stream)
    domain = message_domain(session, tenant_id, req.domain, stream)
    key = active_key(session, tenant_id)
    track_html, track_text = TRACK_MODES[req.track_links or stream.track_links]
    options = RewriteOptions(
        track_html=track_html,
        track_text=track_text,
        prefix_www=stream.prefix_www,
        protect_visible_urls=stream.protect_visible_urls,
        max_links=stream.max_links,
        url_params={**stream.url_params, **(req.url_params or {})},
        # Every tenant's click domains: a link to any of them is never wrapped twice.
        click_hosts=frozenset(session.scalars(select(Domain.name))),
    )
    mint = make_minter(
        key.id,
        key_secret(settings.sealer, key),
        settings.click_base(domain.name),
        message_id=req.message_id,
        tags=tuple(req.tags),
        sent_at=sent_at,
        recipient=recipient_ref(tenant_id, req.recipient),
    )
    return Plan(stream.name, domain.name, options, mint)


def message_domain(session: Session, tenant_id: int, name: str | None, stream: Stream) -> Domain:
    """The request's domain, else the stream's, else the tenant's default; served by edges."""
    if name is not None or stream.domain is None:
        domain = domain_for(session, tenant_id, name)
    else:
        try:
            domain = tenant_domain(session, tenant_id, stream.domain)
        except NotFound:
            raise Conflict(
                f"stream {stream.name!r} uses click domain {stream.domain!r}, which is gone"
            ) from None
    return served(domain)


def make_minter(
    key_id: int,
    secret: bytes,
    click_base: str,
    *,
    message_id: str,
    tags: tuple[str, ...],
    sent_at: int,
    recipient: str,
) -> Minter:
    """A minter for one message; a link's own tags follow the message's in its token."""
    minted = token.TokenMinter(
        key_id,
        secret,
        message_id=message_id,
        sent_at=sent_at,
        recipient=recipient,
        prefix=f"{click_base}/",
    ).mint

    def mint(url: str, index: int, location: str, link_tags: tuple[str, ...]) -> str:
        if len(url) > token.MAX_URL_LEN:
            raise UrlTooLong(f"destination longer than {token.MAX_URL_LEN} characters")
        if not link_tags:
            return minted(url, index, _LOCATIONS[location], tags)
        merged = tuple(dict.fromkeys(tags + link_tags))
        if len(merged) > MAX_TAGS or not all(map(_fits_tag, link_tags)):
            raise TagsRefused(f"more than {MAX_TAGS} tags or a tag over {MAX_TAG_CHARS} chars")
        return minted(url, index, _LOCATIONS[location], merged)

    return mint


def _fits_tag(tag: str) -> bool:
    """A link's own tag (from its markup) within what the API takes for a message's."""
    return len(tag) <= MAX_TAG_CHARS and "\x00" not in tag


def record_message(
    session: Session,
    tenant_id: int,
    message_id: str,
    stream: str,
    tags: list[str],
    tracked_links: int,
    now: int,
    domain: str = "",
) -> None:
    """Insert, or update the earlier rewrite of the same message id (first time kept).

    A first rewrite counts as a message sent in the rollups (in its hour, with its
    stream, domain and tags), in this transaction; a later rewrite does not count again,
    but one that changes stream, domain or tags moves the count, so the rollups say what the
    record says. (The clicks stored meanwhile keep the stream they were stored with.)
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {"stream": stream, "tags": tags, "tracked_links": tracked_links, "updated_ms": now}
    first = dialect.insert(Message).values(
        tenant_id=tenant_id, message_id=message_id, created_ms=now, domain=domain, **values
    )
    created = session.execute(
        first.on_conflict_do_nothing(index_elements=["tenant_id", "message_id"]).returning(
            Message.id
        )
    ).first()
    deltas = Deltas()
    if created is None:
        this = (Message.tenant_id == tenant_id) & (Message.message_id == message_id)
        # Locked (PostgreSQL; SQLite's insert above took the write lock): concurrent
        # rewrites of one message move its count one after the other.
        old = session.execute(
            select(Message.stream, Message.domain, Message.tags, Message.created_ms)
            .where(this)
            .with_for_update()
        ).one()
        # Into another click domain too: its messages_sent stayed under the old one.
        new_domain = domain or old.domain
        session.execute(update(Message).where(this).values(domain=new_domain, **values))
        old_labels = (old.stream, old.domain, tags_text(old.tags), "")
        new_labels = (stream, new_domain, tags_text(tags), "")
        if new_labels != old_labels:
            deltas.add(tenant_id, "sent", old.created_ms, False, old_labels, (-1, 0, 0))
            deltas.add(tenant_id, "sent", old.created_ms, False, new_labels, (1, 0, 0))
    else:
        deltas.add(tenant_id, "sent", now, False, (stream, domain, tags_text(tags), ""), (1, 0, 0))
    deltas.flush(session)
