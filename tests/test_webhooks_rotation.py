"""Webhook secret rotation, stream-scoped endpoints and the complete payload."""

from __future__ import annotations

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from control.api.app import build_app
from control.api.context import AppContext
from control.clock import now_ms
from control.messages import record_message
from control.streams import StreamIn, create_stream
from control.webhooks.dispatcher import Dispatcher
from control.webhooks.outbox import click_payload
from tests.stats_data import row
from tests.webhookkit import (
    Receiver,
    click_row,
    ctx,
    deliveries,
    endpoint,
    ingest,
    receiver,
    spec,
    tenant,
)

__all__ = ["ctx", "receiver"]  # fixtures

HOUR_MS = 3_600_000


def _send_one(dispatcher: Dispatcher) -> None:
    (job,) = dispatcher.claim()
    assert dispatcher.deliver(job).status == 200


def test_rotation_signs_with_both_secrets_until_the_old_one_expires(
    ctx: AppContext, receiver: Receiver
) -> None:
    a, key = tenant(ctx)
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        created = client.post("/v1/webhooks", json={"url": receiver.url("/ok")}, headers=auth)
        hook = created.json()
        old = hook["secret"]
        path = f"/v1/webhooks/{hook['id']}"
        rotated = client.post(f"{path}/rotate", json={"expire_after_seconds": 120}, headers=auth)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != old
        expires = rotated.json()["previous_secret_expires_ms"]
        assert abs(expires - (now_ms() + 120_000)) < 30_000
        shown = client.get(path, headers=auth).json()
        assert shown["secret"] is None and shown["previous_secret_expires_ms"] == expires
        ingest(ctx, [click_row(spec(1, a, now_ms()))])
        clock_ms = [now_ms()]
        dispatcher = Dispatcher(
            ctx.sessions, ctx.sealer, allow_private=True, clock=lambda: clock_ms[0]
        )
        _send_one(dispatcher)
        _, headers, body, _ = receiver.requests[-1]
        assert len(headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):  # a receiver holding either secret verifies
            assert Webhook(secret).verify(body, headers)["click_id"] == f"{1:032x}"
        # After the overlap only the new secret signs (the jump stays within the 5 minutes
        # of clock skew the receiver's library tolerates).
        clock_ms[0] = expires + 1
        retry = client.post(
            f"/v1/webhooks/deliveries/{deliveries(ctx, hook['id'])[0].id}/retry", headers=auth
        )
        assert retry.status_code == 202
        _send_one(dispatcher)
        _, headers, body, _ = receiver.requests[-1]
        assert " " not in headers["webhook-signature"]
        assert Webhook(new).verify(body, headers)["click_id"] == f"{1:032x}"
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(body, headers)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # DB-agnostic
def test_rotation_without_overlap_and_bad_input(ctx: AppContext, receiver: Receiver) -> None:
    a, key = tenant(ctx, "a")
    _, other = tenant(ctx, "b")
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        hook = client.post("/v1/webhooks", json={"url": receiver.url("/ok")}, headers=auth).json()
        path = f"/v1/webhooks/{hook['id']}/rotate"
        for bad in (
            {"expire_after_seconds": -1},
            {"expire_after_seconds": 10**9},
            {"expire_after_seconds": "soon"},
            {"nope": 1},
        ):
            response = client.post(path, json=bad, headers=auth)
            assert response.status_code == 400, (bad, response.text)
            assert set(response.json()["error"]) == {"code", "message"}
        foreign = client.post(path, headers={"Authorization": f"Bearer {other}"})
        assert foreign.status_code == 404
        assert client.post("/v1/webhooks/999999/rotate", headers=auth).status_code == 404
        first = client.post(path, headers=auth)  # no body: the default overlap, a day
        assert first.status_code == 200
        assert first.json()["previous_secret_expires_ms"] > now_ms() + 23 * HOUR_MS
        second = client.post(path, json={"expire_after_seconds": 0}, headers=auth)
        assert second.json()["previous_secret_expires_ms"] is None
    ingest(ctx, [click_row(spec(1, a, now_ms()))])
    _send_one(Dispatcher(ctx.sessions, ctx.sealer, allow_private=True))
    _, headers, body, _ = receiver.requests[-1]
    assert Webhook(second.json()["secret"]).verify(body, headers)
    for stale in (hook["secret"], first.json()["secret"]):
        with pytest.raises(WebhookVerificationError):
            Webhook(stale).verify(body, headers)


def test_stream_scoped_endpoints(ctx: AppContext, receiver: Receiver) -> None:
    a, key = tenant(ctx)
    auth = {"Authorization": f"Bearer {key}"}
    now = now_ms()
    with ctx.sessions.begin() as session:
        create_stream(session, a, StreamIn(name="promo"))
        create_stream(session, a, StreamIn(name="outbound", default=True))
        record_message(session, a, "m-promo", "promo", [], 1, now)
        record_message(session, a, "m-out", "outbound", [], 1, now)
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        bad = client.post(
            "/v1/webhooks", json={"url": receiver.url("/ok"), "stream": "nope"}, headers=auth
        )
        assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]
        scoped = client.post(
            "/v1/webhooks", json={"url": receiver.url("/ok"), "stream": " Promo"}, headers=auth
        )
        assert scoped.status_code == 201 and scoped.json()["stream"] == "promo"
        scoped_id = scoped.json()["id"]
        listed = client.get("/v1/webhooks", headers=auth).json()["webhooks"]
        assert [w["stream"] for w in listed] == ["promo"]
    every, _ = endpoint(ctx, a, receiver.url("/ok"))
    rows = [
        click_row(spec(1, a, now, message="m-promo")),
        click_row(spec(2, a, now, message="m-out")),
        click_row(spec(3, a, now, message="m-unrecorded")),  # a link minted on its own
    ]
    assert ingest(ctx, rows) == 1 + 3
    assert [d.click_id for d in deliveries(ctx, scoped_id)] == [f"{1:032x}"]
    streams = {d.click_id: msgspec.json.decode(d.payload)["stream"] for d in deliveries(ctx, every)}
    assert streams == {f"{1:032x}": "promo", f"{2:032x}": "outbound", f"{3:032x}": None}


def test_payload_has_every_field() -> None:
    click = row(spec(7, 1, 1_700_000_000_000, link=2, bot=True, message="order-7"))
    click.tags = ["receipt", "cta:buy"]  # message tags, then the link's own tags
    click.recipient, click.email_client, click.device = "r-1f2e", "Gmail", "iPhone"
    click.browser_version, click.os_version = "126.0", "17.5"
    assert click_payload(click, "outbound") == {
        "type": "click",
        "click_id": f"{7:032x}",
        "time": 1_700_000_000_000,
        "message_id": "order-7",
        "stream": "outbound",
        "recipient": "r-1f2e",
        "link": {"url": "https://shop.example/2", "index": 2, "location": "html"},
        "tags": ["receipt", "cta:buy"],
        "domain": "click.test",
        "client": {
            "browser": "Chrome",
            "browser_version": "126.0",
            "os": "Windows",
            "os_version": "17.5",
            "device": "iPhone",
            "platform": "Desktop",
            "email_client": "Gmail",
        },
        "geo": {"country": "DE", "region": "BE", "city": "Berlin"},
        "is_bot": True,
        "bot_reasons": ["known_bot_ua"],
        "bot_confidence": click.bot_confidence,
        "user_agent": click.user_agent,
        "ip": "192.0.2.0",
        "status": 302,
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # DB-agnostic
def test_the_old_secrets_expiry_is_not_shown_once_it_has_passed(
    ctx: AppContext, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It went on showing a time in the past, as if the old secret still signed."""
    _, key = tenant(ctx)
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        hook = client.post("/v1/webhooks", json={"url": receiver.url("/ok")}, headers=auth).json()
        path = f"/v1/webhooks/{hook['id']}"
        rotated = client.post(f"{path}/rotate", json={"expire_after_seconds": 60}, headers=auth)
        expires = rotated.json()["previous_secret_expires_ms"]
        assert client.get(path, headers=auth).json()["previous_secret_expires_ms"] == expires
        monkeypatch.setattr("control.api.webhooks.now_ms", lambda: expires)
        assert client.get(path, headers=auth).json()["previous_secret_expires_ms"] is None
