"""Statistics rollups: counts per hour and per UTC day, and which click was a link's first."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from control.db.models import Base


class ClickRollup(Base):
    """Clicks of one tenant in one UTC hour ('h') or UTC day ('d'), per dimension value.

    One row per (stream, click domain, tag list, bot or human) and dimension value, so every
    filter narrows rows instead of needing its own table. `key` is the md5 of
    stream, domain, tags and value (kept in full in their own columns): a fixed-size primary
    key however long a URL or tag list is. The primary key leads with tenant, dimension,
    span and bucket so a query for one tenant's range reads one contiguous index range.
    Dimension 'all' counts every click once (overview, series, tag/domain/stream
    breakdowns); 'sent' counts messages recorded (total) rather than clicks.
    """

    __tablename__ = "click_rollups"
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    dimension: Mapped[str] = mapped_column(String(16))
    span: Mapped[str] = mapped_column(String(1))  # h: hour, d: UTC day
    bucket: Mapped[int] = mapped_column(BigInteger)  # start, ms since the epoch
    key: Mapped[str] = mapped_column(String(32))
    is_bot: Mapped[bool] = mapped_column(Boolean)
    stream: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(253))
    tags: Mapped[str] = mapped_column(Text)  # JSON list, as the click carried it
    value: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(BigInteger)
    unique: Mapped[int] = mapped_column(BigInteger)  # first human clicks of a message link
    messages: Mapped[int] = mapped_column(BigInteger)  # first human clicks of a message

    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "dimension", "span", "bucket", "key", "is_bot"),
        {"sqlite_with_rowid": False},  # clustered by the key: range reads stay contiguous
    )


class FirstClick(Base):
    """The earliest human click (by time, then click id) of a message link, or of a message.

    `link` is the md5 of location, link index and URL; '' marks the message-level row.
    Ingest keeps these current so a rollup row knows whether a click is unique.
    """

    __tablename__ = "first_clicks"
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(200))
    link: Mapped[str] = mapped_column(String(32))
    click_id: Mapped[str] = mapped_column(String(32))
    time_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "message_id", "link"),
        Index("ix_first_clicks_click_id", "click_id"),
    )
