"""SQLAlchemy models: tenants, API keys, signing keys, click domains, certificates, clicks."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BigInteger ids that are still SQLite's rowid (INTEGER PRIMARY KEY) there.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# For tables whose ids the API hands out and deletes by: without AUTOINCREMENT, SQLite
# gives the next row the highest id again once that row is deleted, so a retried
# DELETE /v1/revocations/{id} would lift a newer revocation. (PostgreSQL sequences never
# reuse an id.) Migration 0009 rebuilds the SQLite tables so.
NEVER_REUSED_IDS: Final = {"sqlite_autoincrement": True}

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    truncate_ips: Mapped[bool] = mapped_column(default=True)  # store /24 and /48 only
    retention_days: Mapped[int] = mapped_column(Integer, default=0)  # 0: keep clicks forever


class ApiKey(Base):
    """API keys look like cg_<prefix>_<secret>; only a SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)


class SigningKey(Base):
    """Per-tenant token keys; the key id travels in every token."""

    __tablename__ = "signing_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(128))  # sealed with the master key
    state: Mapped[str] = mapped_column(String(16))  # verify-only, active, retired, revoked
    pending: Mapped[bool] = mapped_column(default=False)  # activate once every edge holds it
    created_ms: Mapped[int] = mapped_column(BigInteger)
    changed_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (NEVER_REUSED_IDS,)


class Revocation(Base):
    """Kill switch entries; see proto Revocation for the kinds."""

    __tablename__ = "revocations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(2048))
    reason: Mapped[str] = mapped_column(String(500))
    created_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("tenant_id", "kind", "value"), NEVER_REUSED_IDS)


class Erasure(Base):
    """A recipient's clicks were deleted at erased_ms (DELETE /v1/recipients/...).

    A click of theirs made before then that arrives afterwards (still in an edge's
    journal, or a batch an edge sends again) is dropped at ingest, not stored anew. Only
    a hash of the recipient reference is kept, and only as long as an edge may still
    hold such a click (control.privacy.ERASURE_KEEP_DAYS).
    """

    __tablename__ = "erasures"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    recipient_hash: Mapped[str] = mapped_column(String(32))
    erased_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_erasures_recipient", "tenant_id", "recipient_hash"),)


class EdgeStatus(Base):
    """What each edge last reported: the revision and keys it holds, and when it was seen."""

    __tablename__ = "edge_status"
    edge_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    key_ids_held: Mapped[list[Any]] = mapped_column(JSON)
    connected: Mapped[bool] = mapped_column(default=False)
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)


class Domain(Base):
    __tablename__ = "domains"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    # Customer domains (CNAME'd to us) are checked in DNS and get ACME certificates;
    # platform domains (added by the operator) are trusted as they are.
    custom: Mapped[bool] = mapped_column(default=False)
    dns_state: Mapped[str] = mapped_column(String(16), default="verified")  # pending, failed
    dns_reason: Mapped[str] = mapped_column(String(500), default="")
    dns_failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive, for backoff
    checked_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    next_check_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    verified_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)  # first success
    https_only: Mapped[bool] = mapped_column(default=False)  # 301 to HTTPS + HSTS once certified
    # Proof of ownership for a customer domain: until it is verified, a TXT record at
    # _clickgate.<name> must hold this value, so a tenant that registers someone else's
    # domain cannot take it over when its owner points the shared CNAME at us. NULL for
    # platform domains and for domains verified before the proof existed.
    verify_token: Mapped[str | None] = mapped_column(String(64), default=None)
    # When DNS first answered that the name no longer CNAMEs to us, since the last check
    # that found it did; NULL while it does (or was never seen either way). A verified
    # domain lost this long can be registered by another tenant (control.domains).
    cname_lost_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)


class ConfigRevision(Base):
    """One row: bumped in the same transaction as any change edges must see."""

    __tablename__ = "config_revision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


class Click(Base):
    __tablename__ = "clicks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    click_id: Mapped[str] = mapped_column(String(32), unique=True)  # hex, minted by the edge
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    received_ms: Mapped[int] = mapped_column(BigInteger)
    edge_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(8))
    host: Mapped[str] = mapped_column(String(253))
    url: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200))
    link_index: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(8))
    tags: Mapped[list[Any]] = mapped_column(JSON)
    sent_at: Mapped[int] = mapped_column(BigInteger)
    recipient: Mapped[str] = mapped_column(String(200))
    ip: Mapped[str] = mapped_column(String(45))
    user_agent: Mapped[str] = mapped_column(Text)
    referer: Mapped[str] = mapped_column(Text)
    accept_language: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(64))
    # Enrichment (control.enrich), computed at ingest; "" and 0 mean unknown.
    browser: Mapped[str] = mapped_column(String(100))
    browser_version: Mapped[str] = mapped_column(String(50))
    os: Mapped[str] = mapped_column(String(100))
    os_version: Mapped[str] = mapped_column(String(50))
    device: Mapped[str] = mapped_column(String(100))
    platform: Mapped[str] = mapped_column(String(16))
    email_client: Mapped[str] = mapped_column(String(50))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(100))
    asn: Mapped[int] = mapped_column(BigInteger)
    as_org: Mapped[str] = mapped_column(String(200))
    is_bot: Mapped[bool] = mapped_column()
    bot_reasons: Mapped[list[Any]] = mapped_column(JSON)
    bot_confidence: Mapped[float] = mapped_column(Float)
    # The message record's stream when the click was stored ("" for a message with no
    # record): frozen, as in the rollups, so a later rewrite moves no click.
    stream: Mapped[str] = mapped_column(String(64), default="", server_default="")

    __table_args__ = (
        Index("ix_clicks_tenant_message", "tenant_id", "message_id", "time_ms"),
        Index("ix_clicks_tenant_time", "tenant_id", "time_ms"),
    )


class AcmeAccount(Base):
    """The control plane's account at one ACME directory; the key is sealed at rest."""

    __tablename__ = "acme_accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    directory_url: Mapped[str] = mapped_column(String(500), unique=True)
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary(4096))  # JWK JSON, sealed
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Certificate(Base):
    """One click domain's TLS certificate and the state of getting or renewing it."""

    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"), unique=True)
    chain_pem: Mapped[str] = mapped_column(Text, default="")
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary(4096), default=b"")  # PEM, sealed
    issuer: Mapped[str] = mapped_column(String(500), default="")
    not_after_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    renew_at_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive, for backoff
    failed_validations_ms: Mapped[list[Any]] = mapped_column(JSON, default=list)  # last hour
    orders_placed: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(1000), default="")
    issued_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)


class AcmeChallenge(Base):
    """An HTTP-01 answer every edge must serve while the CA validates a domain."""

    __tablename__ = "acme_challenges"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"), index=True)
    token: Mapped[str] = mapped_column(String(200))
    key_authorization: Mapped[str] = mapped_column(String(500))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Stream(Base):
    """A tenant's message stream: its click domain and link-tracking defaults."""

    __tablename__ = "streams"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(64))
    # A domain name, not a foreign key: removing a domain must not be blocked by streams;
    # a rewrite through a stream whose domain is gone gets a clear error instead.
    domain: Mapped[str | None] = mapped_column(String(253), default=None)
    track_links: Mapped[str] = mapped_column(String(16))  # None, HtmlAndText, HtmlOnly, TextOnly
    url_params: Mapped[dict[str, Any]] = mapped_column(JSON)
    prefix_www: Mapped[bool] = mapped_column(default=False)
    protect_visible_urls: Mapped[bool] = mapped_column(default=True)
    max_links: Mapped[int] = mapped_column(Integer, default=1000)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class Message(Base):
    """A rewritten (so presumably sent) message: the denominator of per-message click rates."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    message_id: Mapped[str] = mapped_column(String(200))
    stream: Mapped[str] = mapped_column(String(64))
    tags: Mapped[list[Any]] = mapped_column(JSON)
    tracked_links: Mapped[int] = mapped_column(Integer)
    domain: Mapped[str] = mapped_column(String(253), default="", server_default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)  # first rewrite
    updated_ms: Mapped[int] = mapped_column(BigInteger)  # latest rewrite

    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id"),
        Index("ix_messages_tenant_created", "tenant_id", "created_ms"),
    )


class WebhookEndpoint(Base):
    """A tenant's webhook receiver; the signing secret is sealed at rest."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[Any]] = mapped_column(JSON)
    mode: Mapped[str] = mapped_column(String(16))  # every, first_human
    include_bots: Mapped[bool] = mapped_column(default=False)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret: Mapped[bytes] = mapped_column(LargeBinary(256))  # sealed "whsec_..." string
    # After a rotation the old secret keeps signing too (a second signature) until it
    # expires, so receivers can switch secrets without dropping a single event.
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary(256), default=None)
    previous_expires_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    stream: Mapped[str | None] = mapped_column(String(64), default=None)  # None: every stream
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str] = mapped_column(String(500), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    changed_ms: Mapped[int] = mapped_column(BigInteger)


class WebhookDelivery(Base):
    """One event for one endpoint: the outbox row, its retry state and lock columns."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # the webhook-id header
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    click_id: Mapped[str] = mapped_column(String(32))
    event_time_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)  # the exact body signed and sent
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger)
    locked_by: Mapped[str] = mapped_column(String(64), default="")
    locked_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    attempt_log: Mapped[list[Any]] = mapped_column(JSON, default=list)  # last attempts
    last_status_code: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    delivered_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_ms"),
        Index("ix_webhook_deliveries_endpoint_time", "endpoint_id", "event_time_ms"),
    )


# Registered on Base.metadata with the rest (migrations compare against all of it).
from control.db import stats_models  # noqa: E402, F401
