"""Which clicks a statistics request covers: tenant, time range, tag, domain, stream, bots."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import ColumnElement, cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from control.db.models import Click

Bots = Literal["exclude", "include", "only"]


@dataclass(frozen=True)
class ClickFilter:
    """A half-open time range [from_ms, to_ms) of one tenant's clicks, narrowed further."""

    tenant_id: int
    from_ms: int
    to_ms: int
    tag: str | None = None
    domain: str | None = None
    bots: Bots = "exclude"
    stream: str | None = None  # the click's stream (its message record's at ingest)

    def with_bots(self, bots: Bots) -> ClickFilter:
        return replace(self, bots=bots)


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def has_tag(dialect: str, tag: str, column: Any = Click.tags) -> ColumnElement[bool]:
    """Tags are a JSON list; containment is spelled differently per database."""
    if dialect == "postgresql":
        return cast(column, JSONB).contains([tag])
    items = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(items).where(items.c.value == tag))


def conditions(f: ClickFilter, dialect: str) -> list[ColumnElement[Any]]:
    """WHERE terms; tenant and time come first so the (tenant_id, time_ms) index serves."""
    terms: list[ColumnElement[Any]] = [
        Click.tenant_id == f.tenant_id,
        Click.time_ms >= f.from_ms,
        Click.time_ms < f.to_ms,
    ]
    if f.tag is not None:
        terms.append(has_tag(dialect, f.tag))
    if f.domain is not None:
        terms.append(Click.host == f.domain)
    if f.stream is not None:
        terms.append(Click.stream == f.stream)
    if f.bots == "exclude":
        terms.append(Click.is_bot.is_(False))
    elif f.bots == "only":
        terms.append(Click.is_bot.is_(True))
    return terms
