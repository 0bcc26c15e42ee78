"""Ingest stores what the edge journaled, whatever text a sender put in a token."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import msgspec
import pytest
from blake3 import blake3
from clickgate.v1 import ingest_pb2
from sqlalchemy import select

from control.api.context import AppContext
from control.clock import now_ms
from control.db.models import Click, WebhookDelivery
from control.ingest import MAX_REFERER, MAX_USER_AGENT, Ingestor, IngestResult
from control.keys import active_key, key_secret
from control.metrics import ControlMetrics
from control.privacy import delete_recipient_clicks
from control.rpc import IngestService
from edge import token
from edge.record import encode_record
from tests.webhookkit import ctx, endpoint, tenant

__all__ = ["ctx"]  # the fixture, imported for pytest


def journaled(
    click_id: int,
    netloc: str,
    raw: bytes,
    user_agent: bytes = b"ua",
    host: bytes = b"click.test",
    referer: bytes = b"",
    time_ms: int = 1_000,
) -> bytes:
    """One journal record, as edge/app.py writes it."""
    fields = (click_id.to_bytes(16, "big"), time_ms, 302, b"GET", host, "192.0.2.1")
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
    """The edge matches Host case-insensitively and with a trailing dot: "CLICK.test:80"
    and "click.test.:8080" are one domain in the stats. A 300 KB User-Agent or Referer
    on a valid link is stored cut, not whole."""
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
        journaled(3, opened.netloc, opened.raw, host=b"click.test.:8080"),  # FQDN form
    ]
    with ctx.sessions.begin() as session:
        result = Ingestor(ctx.sealer, ctx.enricher).ingest(session, "edge-1", records)
    assert (result.inserted, result.rejected) == (3, [])
    with ctx.sessions() as session:
        rows = session.execute(
            select(Click.host, Click.user_agent, Click.referer).order_by(Click.click_id)
        ).all()
    assert [row.host for row in rows] == ["click.test", "click.test", "click.test"]
    assert rows[1].user_agent == huge.decode()[:MAX_USER_AGENT]
    assert len(rows[1].referer) == MAX_REFERER


def test_a_batch_sent_again_while_its_first_call_still_runs_waits_for_it(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edge gives up on a slow call and sends the batch again. The cancelled call's
    transaction goes on in its thread; the retry's must not run beside it (on SQLite the
    two duplicate checks then raced: UNIQUE constraint failed)."""
    tenant_id, _ = tenant(ctx)
    with ctx.sessions() as session:
        key = active_key(session, tenant_id)
        secret = key_secret(ctx.sealer, key)
    opened = token.open_token(
        token.mint(key.id, secret, "https://shop.example/p"), {key.id: secret}
    )
    assert opened is not None
    records = [journaled(n, opened.netloc, opened.raw) for n in (1, 2)]
    ingestor = Ingestor(ctx.sealer, ctx.enricher)
    real_ingest = ingestor.ingest
    first_inside, release = threading.Event(), threading.Event()
    spans: list[tuple[float, float]] = []

    def slow_first(session: Any, edge_id: str, batch: list[bytes]) -> IngestResult:
        entered = time.monotonic()
        if not spans and not first_inside.is_set():
            first_inside.set()
            release.wait(10)  # the first call's transaction, still going after its cancel
        try:
            return real_ingest(session, edge_id, batch)
        finally:
            spans.append((entered, time.monotonic()))

    monkeypatch.setattr(ingestor, "ingest", slow_first)
    service = IngestService(ctx.sessions, "", ControlMetrics(), ingestor)
    request = ingest_pb2.IngestClicksRequest(edge_id="edge-1", records=records)

    async def retried() -> ingest_pb2.IngestClicksReply:
        context: Any = None  # no token configured: the service never asks its context
        first = asyncio.create_task(service.IngestClicks(request, context))
        await asyncio.to_thread(first_inside.wait, 10)
        first.cancel()  # the edge's deadline passed
        second = asyncio.create_task(service.IngestClicks(request, context))
        await asyncio.sleep(0.3)
        release.set()
        return await second

    reply = asyncio.run(retried())
    assert (reply.inserted, reply.duplicates) == (0, 2)
    (_, first_end), (second_start, _) = sorted(spans)
    assert second_start >= first_end, "the retry's transaction ran beside the first one"
    with ctx.sessions() as session:
        assert len(session.scalars(select(Click.click_id)).all()) == 2


def test_an_erased_recipients_click_sent_again_is_dropped_and_blocks_nothing(
    ctx: AppContext,
) -> None:
    """An edge sends a batch again when the reply to it was lost. If a recipient was
    erased in between, their click must not come back; it used to be stored again, and
    with a webhook its delivery id clashed with the one left behind: every retry of the
    batch failed, and the edge's shipping stalled behind it."""
    tenant_id, _ = tenant(ctx)
    endpoint(ctx, tenant_id, "https://hooks.example/x")
    with ctx.sessions() as session:
        key = active_key(session, tenant_id)
        secret = key_secret(ctx.sealer, key)

    def record(n: int, recipient: str, time_ms: int) -> bytes:
        path = token.mint(key.id, secret, "https://shop.example/p", recipient=recipient)
        opened = token.open_token(path, {key.id: secret})
        assert opened is not None
        return journaled(n, opened.netloc, opened.raw, time_ms=time_ms)

    batch = [record(1, "jane-ref", 1_000), record(2, "bob-ref", 1_000)]
    ingestor = Ingestor(ctx.sealer, ctx.enricher)
    with ctx.sessions.begin() as session:
        assert ingestor.ingest(session, "edge-1", batch).inserted == 2
    with ctx.sessions.begin() as session:
        assert delete_recipient_clicks(session, tenant_id, "jane-ref") == 1
    with ctx.sessions() as session:
        left = session.scalars(select(WebhookDelivery.click_id)).all()
    assert len(left) == 1  # Bob's: Jane's payload went with her click
    # The batch again, with a new click of Bob's and one Jane makes after the erasure.
    after = now_ms() + 1_000
    again = [*batch, record(3, "bob-ref", 2_000), record(4, "jane-ref", after)]
    with ctx.sessions.begin() as session:
        assert ingestor.ingest(session, "edge-1", again).inserted == 2
    with ctx.sessions() as session:
        stored = sorted((c.recipient, c.time_ms) for c in session.scalars(select(Click)))
        deliveries = len(session.scalars(select(WebhookDelivery.id)).all())
    assert stored == [("bob-ref", 1_000), ("bob-ref", 2_000), ("jane-ref", after)]
    assert deliveries == 3
