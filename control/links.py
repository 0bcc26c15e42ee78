"""Minting tracked links for a tenant: the API's and the CLI's one way to sign."""

from __future__ import annotations

import msgspec
from blake3 import blake3
from sqlalchemy.orm import Session

from control.domains import domain_for, served
from control.fields import LinkMessageId, Name, Recipient, Tags
from control.keys import active_key, key_secret
from control.rewrite.urls import host_reads_as_written
from control.settings import ControlSettings
from edge import token


class LinkRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    message_id: LinkMessageId | None = None
    recipient: Recipient | None = None
    tags: Tags = []
    domain: Name | None = None


class LinkResponse(msgspec.Struct, kw_only=True):
    tracked_url: str
    url: str
    domain: str
    key_id: int
    message_id: str | None
    tags: list[str]


def mint_link(
    session: Session, settings: ControlSettings, tenant_id: int, req: LinkRequest, sent_at: int
) -> LinkResponse:
    """Raise token.TokenError for a destination that cannot be tracked, DomainNotReady
    for a custom domain whose CNAME is not seen yet."""
    token.check_destination(req.url)
    if not host_reads_as_written(req.url):
        # Else a host revocation of the host the browser goes to would not match it.
        raise token.TokenError(
            "url host must be an ASCII host name, a dotted-decimal IPv4 address or an [IPv6]"
            " literal (no backslash, percent-escape or numeric shorthand in the authority)"
        )
    domain = served(domain_for(session, tenant_id, req.domain))
    key = active_key(session, tenant_id)
    path = token.mint(
        key.id,
        key_secret(settings.sealer, key),
        req.url,
        message_id=req.message_id or "",
        tags=tuple(req.tags),
        sent_at=sent_at,
        recipient=recipient_ref(tenant_id, req.recipient),
    )
    return LinkResponse(
        tracked_url=f"{settings.click_base(domain.name)}/{path}",
        url=req.url,
        domain=domain.name,
        key_id=key.id,
        message_id=req.message_id,
        tags=req.tags,
    )


RECIPIENT_REF_MAX = 64  # a sender's own reference up to this length goes into tokens as is


def recipient_ref(tenant_id: int, recipient: str | None) -> str:
    """An opaque reference: an email address never goes into a token in clear, and a
    longer reference is hashed whole (cutting it made distinct recipients one)."""
    if not recipient:
        return ""
    if "@" not in recipient:
        if len(recipient) <= RECIPIENT_REF_MAX:
            return recipient
        return f"h:{blake3(f'{tenant_id}:{recipient}'.encode()).hexdigest(12)}"
    digest = blake3(f"{tenant_id}:{recipient.strip().lower()}".encode()).hexdigest(12)
    return f"h:{digest}"
