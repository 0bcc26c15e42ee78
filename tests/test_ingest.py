"""Ingest stores what the edge journaled, whatever text a sender put in a token."""

from __future__ import annotations

import msgspec
from blake3 import blake3
from sqlalchemy import select

from control.api.context import AppContext
from control.db.models import Click
from control.ingest import MAX_REFERER, MAX_USER_AGENT, Ingestor
from control.keys import active_key, key_secret
from edge import token
from edge.record import encode_record
from tests.webhookkit import ctx, tenant

__all__ = ["ctx"]  # the fixture, imported for pytest


def journaled(
    click_id: int,
    netloc: str,
    raw: bytes,
    user_agent: bytes = b"ua",
    host: bytes = b"click.test",
    referer: bytes = b"",
) -> bytes:
    """One journal record, as edge/app.py writes it."""
    fields = (click_id.to_bytes(16, "big"), 1_000, 302, b"GET", host, "192.0.2.1")
    return encode_record((*fields, user_agent, referer, b"", b"", netloc, raw))


def test_nul_in_a_token_is_stored_as_a_replacement_and_spares_the_batch(
    ctx: AppContext,
) -> None:
    # The API refuses NUL, but a sender's own minter (or an older release) may sign one;
    # PostgreSQL refuses NUL in text, and one such click used to fail every batch it was in.
    tenant_id, _ = tenant(ctx)
    with ctx.sessions() as session:
        key = active_key(session, tenant_id)
        secret = key_secret(ctx.sealer, key)
    records = []
    for n, (message, recipient, tags) in enumerate(
        [("a\x00b", "ref\x00x", ("k:\x00v",)), ("plain", "r", ("news",))]
    ):
        path = token.mint(
            key.id, secret, "https://shop.example/p", message_id=message, recipient=recipient,
            tags=tags,
        )  # fmt: skip
        opened = token.open_token(path, {key.id: secret})
        assert opened is not None
        records.append(journaled(n + 1, opened.netloc, opened.raw))
    ingestor = Ingestor(ctx.sealer, ctx.enricher)
    with ctx.sessions.begin() as session:
        result = ingestor.ingest(session, "edge-1", records)
    assert (result.inserted, result.rejected) == (2, [])
    with ctx.sessions() as session:
        stored = session.execute(
            select(Click.message_id, Click.recipient, Click.tags).order_by(Click.click_id)
        ).all()
    assert [tuple(row) for row in stored] == [
        ("a\ufffdb", "ref\ufffdx", ["k:\ufffdv"]),
        ("plain", "r", ["news"]),
    ]


def signed_elsewhere(key_id: int, secret: bytes, body: token.Body) -> bytes:
    """Raw token bytes as another minter might sign them: no check of the destination."""
    encoded = token._leb128(key_id) + msgspec.msgpack.encode(body)
    pad = -(len(encoded) + 1 + token.TAG_LEN) % 3
    signed = bytes((token.VERSION << 2 | pad,)) + encoded + b"\0" * pad
    return signed + blake3(b"\n" + signed, key=secret).digest(token.TAG_LEN)


def test_nul_in_a_destination_signed_elsewhere_spares_the_batch(ctx: AppContext) -> None:
    tenant_id, _ = tenant(ctx)
    with ctx.sessions() as session:
        key = active_key(session, tenant_id)
        secret = key_secret(ctx.sealer, key)
    raw = signed_elsewhere(key.id, secret, token.Body(flags=0, url="https://e.example/a\x00b"))
    assert token.verify_raw("", raw, secret)
    with ctx.sessions.begin() as session:
        result = Ingestor(ctx.sealer, ctx.enricher).ingest(session, "e", [journaled(1, "", raw)])
    assert (result.inserted, result.rejected) == (1, [])
    with ctx.sessions() as session:
        assert session.scalars(select(Click.url)).all() == ["https://e.example/a\ufffdb"]


def test_host_is_stored_as_matched_and_huge_headers_are_cut(ctx: AppContext) -> None:
    """The edge matches Host case-insensitively: "CLICK.test:80" is one domain in the
    stats. A 300 KB User-Agent or Referer on a valid link is stored cut, not whole."""
    tenant_id, _ = tenant(ctx)
    with ctx.sessions() as session:
        key = active_key(session, tenant_id)
        secret = key_secret(ctx.sealer, key)
    path = token.mint(key.id, secret, "https://shop.example/p")
    opened = token.open_token(path, {key.id: secret})
    assert opened is not None
    huge = b"Mozilla/5.0 " + b"x" * 300_000
    records = [
        journaled(1, opened.netloc, opened.raw, host=b"CLICK.Test:80"),
        journaled(2, opened.netloc, opened.raw, user_agent=huge, referer=b"https://r/" + huge),
    ]
    with ctx.sessions.begin() as session:
        result = Ingestor(ctx.sealer, ctx.enricher).ingest(session, "edge-1", records)
    assert (result.inserted, result.rejected) == (2, [])
    with ctx.sessions() as session:
        rows = session.execute(
            select(Click.host, Click.user_agent, Click.referer).order_by(Click.click_id)
        ).all()
    assert [row.host for row in rows] == ["click.test", "click.test"]
    assert rows[1].user_agent == huge.decode()[:MAX_USER_AGENT]
    assert len(rows[1].referer) == MAX_REFERER
