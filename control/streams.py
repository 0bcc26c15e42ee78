"""Message streams: a tenant's named click domain and link-tracking defaults for rewrites."""

from __future__ import annotations

import re
from typing import Final, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from control.clock import now_ms
from control.db.models import Stream
from control.domains import tenant_domain
from control.tenants import Conflict, NotFound

DEFAULT_STREAM: Final = "outbound"  # Postmark's name for the default transactional stream
MAX_URL_PARAMS: Final = 50

# Postmark's TrackLinks values -> (track HTML, track text).
TrackLinks = Literal["None", "HtmlAndText", "HtmlOnly", "TextOnly"]
TRACK_MODES: Final[dict[str, tuple[bool, bool]]] = {
    "None": (False, False),
    "HtmlAndText": (True, True),
    "HtmlOnly": (True, False),
    "TextOnly": (False, True),
}

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class StreamIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    domain: str | None = None  # None: the tenant's default click domain
    track_links: TrackLinks = "HtmlAndText"
    url_params: dict[str, str] = {}
    prefix_www: bool = False  # track "www.example.com" links as http://www.example.com
    protect_visible_urls: bool = True  # leave links whose visible text is a URL untracked
    max_links: int = 1000
    default: bool = False


class StreamPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields left out stay as they are; `domain: null` goes back to the tenant default."""

    domain: str | msgspec.UnsetType | None = msgspec.UNSET
    track_links: TrackLinks | msgspec.UnsetType = msgspec.UNSET
    url_params: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    prefix_www: bool | msgspec.UnsetType = msgspec.UNSET
    protect_visible_urls: bool | msgspec.UnsetType = msgspec.UNSET
    max_links: int | msgspec.UnsetType = msgspec.UNSET
    default: bool | msgspec.UnsetType = msgspec.UNSET


class StreamOut(msgspec.Struct, kw_only=True):
    name: str
    domain: str | None
    track_links: str
    url_params: dict[str, str]
    prefix_www: bool
    protect_visible_urls: bool
    max_links: int
    default: bool
    created_ms: int
    updated_ms: int


def stream_out(row: Stream) -> StreamOut:
    return StreamOut(
        name=row.name,
        domain=row.domain,
        track_links=row.track_links,
        url_params={str(k): str(v) for k, v in row.url_params.items()},
        prefix_www=row.prefix_www,
        protect_visible_urls=row.protect_visible_urls,
        max_links=row.max_links,
        default=row.is_default,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
    )


def check_url_params(params: dict[str, str]) -> dict[str, str]:
    """Raise ValueError for parameters that cannot be appended to a query string."""
    if len(params) > MAX_URL_PARAMS:
        raise ValueError(f"at most {MAX_URL_PARAMS} url_params")
    for name, value in params.items():
        if not name or len(name) > 200 or len(value) > 1000:
            raise ValueError("url_params names must be 1-200 characters, values up to 1000")
        if "\x00" in name or "\x00" in value:
            raise ValueError("url_params names and values must not contain NUL")
    return params


def check_max_links(value: int) -> int:
    if not 0 <= value <= 10_000:
        raise ValueError("max_links must be between 0 and 10000")
    return value


def list_streams(session: Session, tenant_id: int) -> list[Stream]:
    return list(
        session.scalars(select(Stream).where(Stream.tenant_id == tenant_id).order_by(Stream.id))
    )


def stored_name(name: str) -> str:
    """Stream names are kept in lower case: `Marketing` finds `marketing`."""
    return name.strip().lower()


def get_stream(session: Session, tenant_id: int, name: str) -> Stream:
    stream = session.scalar(
        select(Stream).where(Stream.tenant_id == tenant_id, Stream.name == stored_name(name))
    )
    if stream is None:
        raise NotFound(f"no stream {name!r}")
    return stream


def create_stream(session: Session, tenant_id: int, data: StreamIn) -> Stream:
    """Raise ValueError for a bad field, Conflict for a taken name, NotFound for a domain."""
    name = stored_name(data.name)
    if not _NAME.fullmatch(name):
        raise ValueError("stream name: 1-64 of a-z, 0-9, '-', '_', starting with a letter or digit")
    if session.scalar(select(Stream.id).where(Stream.tenant_id == tenant_id, Stream.name == name)):
        raise Conflict(f"stream {name!r} exists")
    now = now_ms()
    stream = Stream(
        tenant_id=tenant_id,
        name=name,
        domain=_own_domain(session, tenant_id, data.domain),
        track_links=data.track_links,
        url_params=check_url_params(data.url_params),
        prefix_www=data.prefix_www,
        protect_visible_urls=data.protect_visible_urls,
        max_links=check_max_links(data.max_links),
        is_default=False,
        created_ms=now,
        updated_ms=now,
    )
    session.add(stream)
    if data.default:
        _make_default(session, tenant_id, stream)
    session.flush()
    return stream


def update_stream(session: Session, tenant_id: int, name: str, patch: StreamPatch) -> Stream:
    stream = get_stream(session, tenant_id, name)
    if patch.domain is not msgspec.UNSET:
        stream.domain = _own_domain(session, tenant_id, patch.domain)
    if patch.track_links is not msgspec.UNSET:
        stream.track_links = patch.track_links
    if patch.url_params is not msgspec.UNSET:
        stream.url_params = check_url_params(patch.url_params)
    if patch.prefix_www is not msgspec.UNSET:
        stream.prefix_www = patch.prefix_www
    if patch.protect_visible_urls is not msgspec.UNSET:
        stream.protect_visible_urls = patch.protect_visible_urls
    if patch.max_links is not msgspec.UNSET:
        stream.max_links = check_max_links(patch.max_links)
    if patch.default is True:
        _make_default(session, tenant_id, stream)
    elif patch.default is False and stream.is_default:
        raise Conflict("a tenant always has a default stream: make another stream the default")
    stream.updated_ms = now_ms()
    session.flush()
    return stream


def delete_stream(session: Session, tenant_id: int, name: str) -> None:
    """Messages keep the stream's name; the default stream cannot go (make another default)."""
    stream = get_stream(session, tenant_id, name)
    if stream.is_default:
        raise Conflict(f"stream {stream.name!r} is the default: make another stream the default")
    session.delete(stream)


def resolve_stream(session: Session, tenant_id: int, name: str | None) -> Stream:
    """The named stream, or the tenant's default one (created on first use)."""
    if name is not None:
        return get_stream(session, tenant_id, name)
    stream = session.scalar(
        select(Stream).where(Stream.tenant_id == tenant_id, Stream.is_default).order_by(Stream.id)
    )
    if stream is not None:
        return stream
    # Two first rewrites at once may both create it: the loser gets an IntegrityError (or a
    # Conflict) and the caller retries in a new transaction (see control.messages).
    existing = session.scalar(
        select(Stream).where(Stream.tenant_id == tenant_id, Stream.name == DEFAULT_STREAM)
    )
    if existing is not None:  # created by hand before any default existed
        existing.is_default = True
        return existing
    return create_stream(session, tenant_id, StreamIn(name=DEFAULT_STREAM, default=True))


def _make_default(session: Session, tenant_id: int, stream: Stream) -> None:
    for other in session.scalars(
        select(Stream).where(Stream.tenant_id == tenant_id, Stream.is_default)
    ):
        other.is_default = False
    stream.is_default = True


def _own_domain(session: Session, tenant_id: int, name: str | None) -> str | None:
    """The tenant's own domain, normalized; NotFound for another tenant's or an unknown one."""
    return None if name is None else tenant_domain(session, tenant_id, name).name
