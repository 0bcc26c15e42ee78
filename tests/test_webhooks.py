"""Click webhooks: signing, SSRF guard, outbox at ingest, the dispatcher and the API."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from control.api.app import build_app
from control.api.context import AppContext
from control.clock import now_ms
from control.db.models import Click, WebhookEndpoint
from control.settings import load_control_settings
from control.webhooks.dispatcher import Dispatcher
from control.webhooks.endpoints import replay, retry_delivery, validate
from control.webhooks.sender import Outcome
from control.webhooks.signing import new_secret, sign, signed_headers
from edge.envconfig import SettingsError
from tests.cluster import MASTER_KEY
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

# --- signing -------------------------------------------------------------------------


def test_signature_verifies_with_the_standardwebhooks_package() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    body = b'{"type":"click","click_id":"abc"}'
    stamp = int(time.time())
    headers = signed_headers(secret, "msg_abc_1", stamp, body)
    assert Webhook(secret).verify(body, headers) == {"type": "click", "click_id": "abc"}
    assert headers["webhook-signature"] == sign(secret, "msg_abc_1", stamp, body)
    tampered = {**headers, "webhook-id": "msg_other"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, tampered)


# --- outbox ----------------------------------------------------------------------------


def test_enqueue_only_new_clicks_and_first_human(ctx: AppContext) -> None:
    a, _ = tenant(ctx, "a")
    b, _ = tenant(ctx, "b")
    every, _ = endpoint(ctx, a, "http://127.0.0.1:9/every")
    first, _ = endpoint(ctx, a, "http://127.0.0.1:9/first", mode="first_human")
    bots, _ = endpoint(ctx, a, "http://127.0.0.1:9/bots", include_bots=True)
    off, _ = endpoint(ctx, a, "http://127.0.0.1:9/off")
    with ctx.sessions.begin() as session:
        session.get_one(WebhookEndpoint, off).enabled = False
    t = now_ms()
    rows = [
        click_row(spec(1, a, t - 50, bot=True)),  # an earlier bot click does not count
        click_row(spec(2, a, t)),
        click_row(spec(3, a, t + 10)),  # second human click of link 0
        click_row(spec(4, a, t, link=1)),
        click_row(spec(5, b, t)),  # tenant b has no endpoint
    ]
    assert ingest(ctx, rows) == 3 + 2 + 4
    assert ingest(ctx, rows) == 0  # duplicates: nothing twice
    assert [d.click_id for d in deliveries(ctx, first)] == [f"{2:032x}", f"{4:032x}"]
    assert len(deliveries(ctx, every)) == 3
    assert len(deliveries(ctx, bots)) == 4
    assert deliveries(ctx, off) == []
    assert ingest(ctx, [click_row(spec(6, a, t + 20))]) == 2  # every + bots, not first
    d = deliveries(ctx, first)[0]
    assert d.id == f"msg_{2:032x}_{first}"
    payload = msgspec.json.decode(d.payload)
    assert payload["link"] == {"url": "https://shop.example/0", "index": 0, "location": "html"}
    assert payload["tags"] == ["news"] and payload["is_bot"] is False
    assert payload["client"]["browser"] == "Chrome" and payload["client"]["os"] == "Windows"
    assert payload["geo"] == {"country": "DE", "region": "BE", "city": "Berlin"}


# --- dispatcher ------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = now_ms()

    def __call__(self) -> int:
        return self.now


def test_retries_follow_the_schedule_then_deliver(ctx: AppContext, receiver: Receiver) -> None:
    a, _ = tenant(ctx)
    eid, secret = endpoint(ctx, a, receiver.url("/flaky"), headers={"x-team": "crm"})
    ingest(ctx, [click_row(spec(1, a, now_ms()))])
    clock = FakeClock()
    dispatcher = Dispatcher(
        ctx.sessions, ctx.sealer, allow_private=True, base_delay_ms=1000, clock=clock
    )
    for attempt, base in enumerate([1000, 4000], start=1):
        (job,) = dispatcher.claim()
        assert dispatcher.deliver(job).status == 500
        (d,) = deliveries(ctx, eid)
        assert d.attempts == attempt and d.status == "pending"
        assert 0.8 * base <= d.next_attempt_ms - clock.now <= 1.2 * base
        assert dispatcher.claim() == []  # not due yet
        clock.now = d.next_attempt_ms
    (job,) = dispatcher.claim()
    assert dispatcher.deliver(job).status == 204
    (d,) = deliveries(ctx, eid)
    assert (d.status, d.attempts) == ("delivered", 3)
    assert [e["status_code"] for e in d.attempt_log] == [500, 500, 204]
    assert len(receiver.requests) == 3
    assert {r[1]["webhook-id"] for r in receiver.requests} == {d.id}  # stable across retries
    for _, headers, body, _ in receiver.requests:
        assert headers["x-team"] == "crm"
        assert Webhook(secret).verify(body, headers)["click_id"] == f"{1:032x}"


def test_a_receivers_retry_after_is_honoured(ctx: AppContext, receiver: Receiver) -> None:
    a, _ = tenant(ctx)
    eid, _ = endpoint(ctx, a, receiver.url("/ok"))
    ingest(ctx, [click_row(spec(1, a, now_ms()))])
    clock = FakeClock()
    dispatcher = Dispatcher(
        ctx.sessions, ctx.sealer, allow_private=True, base_delay_ms=1000, clock=clock
    )
    (job,) = dispatcher.claim()
    dispatcher.record(job, Outcome(429, retry_after_s=120.0))
    (d,) = deliveries(ctx, eid)
    assert d.next_attempt_ms - clock.now >= 120_000  # not the schedule's 1 s
    assert d.status == "pending"


def test_replay_queues_clicks_made_while_the_endpoint_was_disabled(
    ctx: AppContext, receiver: Receiver
) -> None:
    """An endpoint disabled (by a 410, by failures, or by hand) gets no rows for the
    clicks meanwhile; a replay of that range used to find nothing to send."""
    a, _ = tenant(ctx)
    eid, secret = endpoint(ctx, a, receiver.url("/ok"))
    t = now_ms()
    with ctx.sessions.begin() as session:
        session.get_one(WebhookEndpoint, eid).enabled = False
    rows = [click_row(spec(1, a, t)), click_row(spec(2, a, t + 1, link=1, bot=True))]
    assert ingest(ctx, rows) == 0  # nothing queued while disabled
    with ctx.sessions.begin() as session:
        session.get_one(WebhookEndpoint, eid).enabled = True
        assert replay(session, eid, t - 1, t + 10) == 1  # the human click; no bots wanted
        assert replay(session, eid, t - 1, t + 10) == 1  # again: the same row, not a second
    dispatcher = Dispatcher(ctx.sessions, ctx.sealer, allow_private=True)
    (job,) = dispatcher.claim()
    assert dispatcher.deliver(job).status == 200
    (_, headers, body, _) = receiver.requests[0]
    assert Webhook(secret).verify(body, headers)["click_id"] == f"{1:032x}"


def test_410_disables_the_endpoint_at_once(ctx: AppContext, receiver: Receiver) -> None:
    a, key = tenant(ctx)
    eid, _ = endpoint(ctx, a, receiver.url("/gone"))
    ingest(ctx, [click_row(spec(1, a, now_ms())), click_row(spec(2, a, now_ms(), link=1))])
    dispatcher = Dispatcher(ctx.sessions, ctx.sealer, allow_private=True, per_endpoint=1)
    (job,) = dispatcher.claim()
    assert dispatcher.deliver(job).status == 410
    assert dispatcher.claim() == []  # the disabled endpoint's other event waits
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        shown = client.get(f"/v1/webhooks/{eid}", headers={"Authorization": f"Bearer {key}"})
    assert shown.json()["enabled"] is False
    assert "410" in shown.json()["disabled_reason"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # DB-agnostic
def test_refused_destination_is_recorded_not_sent(ctx: AppContext) -> None:
    a, _ = tenant(ctx)
    eid, _ = endpoint(ctx, a, "http://127.0.0.1:9/x")
    ingest(ctx, [click_row(spec(1, a, now_ms()))])
    dispatcher = Dispatcher(ctx.sessions, ctx.sealer, allow_private=False)
    (job,) = dispatcher.claim()
    outcome = dispatcher.deliver(job)
    assert outcome.status == 0 and "loopback" in outcome.error
    assert deliveries(ctx, eid)[0].last_error == outcome.error


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # DB-agnostic
def test_a_hanging_receiver_does_not_delay_another_tenant(
    ctx: AppContext, receiver: Receiver
) -> None:
    a, _ = tenant(ctx, "a")
    b, _ = tenant(ctx, "b")
    endpoint(ctx, a, receiver.url("/hang"))
    healthy, _ = endpoint(ctx, b, receiver.url("/ok"))
    t = now_ms()
    ingest(ctx, [click_row(spec(n, a, t, link=n)) for n in range(1, 9)])
    dispatcher = Dispatcher(
        ctx.sessions, ctx.sealer, allow_private=True, timeout_s=2.0, per_endpoint=2, batch=4
    )

    async def scenario() -> float:
        runner = asyncio.create_task(dispatcher.run_forever(poll_s=0.02))
        await asyncio.sleep(0.2)  # the hanging endpoint now holds its slots
        start = time.monotonic()
        await asyncio.to_thread(ingest, ctx, [click_row(spec(20, b, now_ms()))])
        while deliveries(ctx, healthy)[0].status != "delivered":
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - start
        runner.cancel()
        return elapsed

    assert asyncio.run(scenario()) < 1.5  # blocked, it would wait out the 2 s timeout
    assert sum(1 for r in receiver.requests if r[0] == "/hang") <= 2  # per-endpoint limit


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # DB-agnostic
def test_hanging_receivers_do_not_starve_the_loops_default_executor(
    ctx: AppContext, receiver: Receiver
) -> None:
    """Click ingest (control.rpc) runs on the loop's default executor: sends must not."""
    a, _ = tenant(ctx)
    for _ in range(4):
        endpoint(ctx, a, receiver.url("/hang"))
    ingest(ctx, [click_row(spec(n, a, now_ms(), link=n)) for n in range(1, 4)])
    dispatcher = Dispatcher(ctx.sessions, ctx.sealer, allow_private=True, timeout_s=2.0)

    async def scenario() -> float:
        # A small default pool, as on a two-core machine: 8 hanging sends would fill it.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(4))
        runner = asyncio.create_task(dispatcher.run_forever(poll_s=0.02))
        while sum(dispatcher.in_flight.values()) < 8:
            await asyncio.sleep(0.02)
        start = time.monotonic()
        await asyncio.to_thread(lambda: None)
        elapsed = time.monotonic() - start
        runner.cancel()
        return elapsed

    assert asyncio.run(scenario()) < 0.5


def test_a_restarted_dispatcher_takes_its_rows_back_at_once(ctx: AppContext) -> None:
    a, _ = tenant(ctx)
    endpoint(ctx, a, "http://127.0.0.1:9/x")
    ingest(ctx, [click_row(spec(1, a, now_ms()))])
    killed = Dispatcher(ctx.sessions, ctx.sealer, worker="host:8000")
    (job,) = killed.claim()  # then SIGKILL: the row stays locked
    other = Dispatcher(ctx.sessions, ctx.sealer, worker="elsewhere:8000")
    assert other.release_own() == 0 and other.claim() == []
    restarted = Dispatcher(ctx.sessions, ctx.sealer, worker="host:8000")
    assert restarted.release_own() == 1
    (again,) = restarted.claim()
    assert again.delivery_id == job.delivery_id  # the same webhook-id on the resend
    clock = FakeClock()
    clock.now += restarted.lock_ms + 1
    later = Dispatcher(ctx.sessions, ctx.sealer, worker="elsewhere:8000", clock=clock)
    assert [j.delivery_id for j in later.claim()] == [job.delivery_id]  # the lock expired


def test_a_retry_made_during_an_attempt_is_not_undone_by_its_failure(
    ctx: AppContext, receiver: Receiver
) -> None:
    a, _ = tenant(ctx)
    eid, _ = endpoint(ctx, a, receiver.url("/ok"))
    ingest(ctx, [click_row(spec(1, a, now_ms()))])
    clock = FakeClock()
    dispatcher = Dispatcher(
        ctx.sessions, ctx.sealer, allow_private=True, base_delay_ms=60_000, clock=clock
    )
    (job,) = dispatcher.claim()
    with ctx.sessions.begin() as session:  # the operator retries while the POST hangs
        retry_delivery(session, a, job.delivery_id)
    clock.now = now_ms()  # the retry is due from the moment it was made
    dispatcher.record(job, Outcome(503, error="timed out"))  # then the old attempt fails
    (d,) = deliveries(ctx, eid)
    assert (d.status, d.attempts) == ("pending", 0)
    assert d.next_attempt_ms <= clock.now  # still due now, not in a minute
    assert [e["status_code"] for e in d.attempt_log] == [503]  # the attempt is on record
    (again,) = dispatcher.claim()  # and the retry goes out at once
    assert dispatcher.deliver(again).status == 200
    assert deliveries(ctx, eid)[0].status == "delivered"


def test_an_attempt_that_succeeds_after_losing_its_lock_still_counts(ctx: AppContext) -> None:
    a, _ = tenant(ctx)
    eid, _ = endpoint(ctx, a, "http://127.0.0.1:9/x")
    ingest(ctx, [click_row(spec(1, a, now_ms()))])
    slow = Dispatcher(ctx.sessions, ctx.sealer, worker="slow:1")
    (job,) = slow.claim()
    clock = FakeClock()
    clock.now += slow.lock_ms + 1
    other = Dispatcher(ctx.sessions, ctx.sealer, worker="other:1", clock=clock)
    (taken,) = other.claim()  # the lock expired: another dispatcher sends it too
    slow.record(job, Outcome(200))
    (d,) = deliveries(ctx, eid)
    assert d.status == "delivered"  # the receiver has it, whoever sent it
    assert d.locked_by == taken.lock  # the other send's lock is left to it
    other.record(taken, Outcome(500))
    (d,) = deliveries(ctx, eid)
    assert d.status == "delivered"  # a later failure of the duplicate cannot undo that


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLICKGATE_WEBHOOK_CONCURRENCY", "0"),
        ("CLICKGATE_WEBHOOK_CONCURRENCY_PER_ENDPOINT", "0"),
        ("CLICKGATE_WEBHOOK_TIMEOUT_SECONDS", "-1"),
        ("CLICKGATE_WEBHOOK_RETRY_BASE_SECONDS", "soon"),
        ("CLICKGATE_WEBHOOK_POLL_SECONDS", "0"),
    ],
)
def test_bad_webhook_settings_are_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_control_settings({"CLICKGATE_MASTER_KEY": MASTER_KEY, variable: value})


# --- API -------------------------------------------------------------------------------


def test_webhooks_api(ctx: AppContext, receiver: Receiver) -> None:
    a, key = tenant(ctx, "a")
    _, other = tenant(ctx, "b")
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        body = {"url": receiver.url("/ok"), "mode": "first_human", "headers": {"x-a": "1"}}
        created = client.post("/v1/webhooks", json=body, headers=auth)
        assert created.status_code == 201, created.text
        hook = created.json()
        assert hook["secret"].startswith("whsec_") and hook["events"] == ["click"]
        path = f"/v1/webhooks/{hook['id']}"
        assert client.get(path, headers=auth).json()["secret"] is None  # shown once
        assert [w["id"] for w in client.get("/v1/webhooks", headers=auth).json()["webhooks"]] == [
            hook["id"]
        ]
        for bad in (
            {"url": "ftp://x/"},
            {"url": "https://x/", "mode": "sometimes"},
            {"url": "https://x/", "events": ["open"]},
            {"url": "https://x/", "headers": {"webhook-id": "x"}},
            {"url": "https://x/", "headers": {"x-a": "1\r\nx-b: 2"}},
            {"url": "https://x/", "nope": 1},
            {"url": "https://x:99999/"},
            {"url": "https://x:0/"},  # was stored, then delivered to 443
            {"url": "https://exa\u0000mple.com/hook"},
            {"url": "https://example.com/a b"},
            {"url": "https://x/", "headers": {"Transfer-Encoding": "chunked"}},
            {"url": "https://user:s3cret@x/"},  # was stored, shown, and never sent
            {"url": "https://x/", "headers": {"Connection": "close"}},
            {"url": "https://x/", "headers": {"X-Token": "a", "x-token": "b"}},
            {"url": "https://x/", "headers": {"Content-Type": "text/plain"}},
            {"url": "https://x/", "headers": {"x b": "1"}},
            {"url": "https://x/", "headers": {"x-a": "\u20ac"}},
            {"url": "https://x.example/\u00e9"},  # http.client sends no non-ASCII: never sent
            {"url": "https://x/", "headers": {"Content-Encoding": "gzip"}},  # ours is plain
            {"url": "https://x/", "headers": {f"x-{n}": "v" for n in range(33)}},
            {"url": "https://x/", "headers": {f"x-{n}": "v" * 4000 for n in range(5)}},
            {"url": "https://x/", "events": ["click", "click"]},
        ):
            response = client.post("/v1/webhooks", json=bad, headers=auth)
            assert response.status_code == 400, (bad, response.text)
            assert "error" in response.json()
        assert client.get(path, headers={"Authorization": f"Bearer {other}"}).status_code == 404
        patched = client.patch(path, json={"enabled": False}, headers=auth).json()
        assert patched["enabled"] is False and patched["disabled_reason"]
        assert client.patch(path, json={"enabled": True}, headers=auth).json()["enabled"]
        t = now_ms()
        ingest(ctx, [click_row(spec(1, a, t))])
        dispatcher = Dispatcher(ctx.sessions, ctx.sealer, allow_private=True)
        (job,) = dispatcher.claim()
        dispatcher.deliver(job)
        listed = client.get(f"{path}/deliveries", headers=auth).json()["deliveries"]
        assert [(d["status"], d["attempts"]) for d in listed] == [("delivered", 1)]
        for bad_range in ({"from": "0", "to": 1}, {"from": 0, "to": 2**63}):
            refused = client.post(f"{path}/replay", json=bad_range, headers=auth)
            assert refused.status_code == 400, refused.text
        replay = client.post(f"{path}/replay", json={"from": t, "to": t + 1}, headers=auth)
        assert replay.status_code == 202 and replay.json() == {"requeued": 1}
        (job,) = dispatcher.claim()
        dispatcher.deliver(job)
        retry = client.post(f"/v1/webhooks/deliveries/{job.delivery_id}/retry", headers=auth)
        assert retry.status_code == 202 and retry.json()["status"] == "pending"
        (job,) = dispatcher.claim()
        dispatcher.deliver(job)
        assert {r[1]["webhook-id"] for r in receiver.requests} == {job.delivery_id}
        assert len(receiver.requests) == 3
        assert (
            client.post(f"{path}/replay", json={"from": 2, "to": 1}, headers=auth).status_code
            == 400
        )
        missing = client.post("/v1/webhooks/deliveries/nope/retry", headers=auth)
        assert missing.status_code == 404
        assert client.delete(path, headers=auth).status_code == 204
        assert client.get(path, headers=auth).status_code == 404
    with ctx.sessions() as session:
        assert session.scalars(select(Click)).all()  # clicks stay; only deliveries go


URL_AT_LIMIT = "https://hooks.example/" + "a" * (2048 - 22)


@pytest.mark.parametrize(
    ("url", "headers", "message"),
    [
        (URL_AT_LIMIT + "a", {}, "url: at most 2048 characters"),
        ("https://x/", {"x-a": "v" * 4097}, "header 'x-a': value of at most 4096 characters"),
        ("https://x/", {"x" * 257: "v"}, "...: at most 256 characters"),
    ],
)
def test_a_setting_over_a_limit_is_refused_naming_the_limit(
    url: str, headers: dict[str, str], message: str
) -> None:
    """Not "must be an absolute http(s) URL" for a long one, or "printable Latin-1"."""
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(url, ["click"], "every", headers)
    validate(URL_AT_LIMIT, ["click"], "every", {"x" * 256: "v" * 4096})  # at the limits: fine


def test_a_replay_gets_past_more_unwanted_clicks_than_it_queues_per_call(
    ctx: AppContext, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream filter ran after the LIMIT: once more clicks of other streams than the
    limit came first in the range, every call queued nothing, for good."""
    monkeypatch.setattr("control.webhooks.outbox.REPLAY_QUEUE_MAX", 2)
    a, _ = tenant(ctx)
    eid, _ = endpoint(ctx, a, receiver.url("/ok"))
    t = now_ms()
    with ctx.sessions.begin() as session:
        session.get_one(WebhookEndpoint, eid).enabled = False
    ingest(ctx, [click_row(spec(n, a, t + n, link=n)) for n in range(1, 5)])
    with ctx.sessions.begin() as session:
        last = Click.click_id == f"{4:032x}"  # after three clicks of no stream
        session.execute(update(Click).where(last).values(stream="promo"))
        found = session.get_one(WebhookEndpoint, eid)
        found.enabled, found.stream = True, "promo"
        assert replay(session, eid, t, t + 10) == 1


def test_a_first_human_replay_gets_past_more_later_clicks_than_it_queues_per_call(
    ctx: AppContext, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for streams: "first human click" was judged after the LIMIT, so a range opening
    with more repeat clicks than the limit queued nothing on every call."""
    monkeypatch.setattr("control.webhooks.outbox.REPLAY_QUEUE_MAX", 2)
    a, _ = tenant(ctx)
    eid, _ = endpoint(ctx, a, receiver.url("/ok"), mode="first_human")
    t = now_ms()
    with ctx.sessions.begin() as session:
        session.get_one(WebhookEndpoint, eid).enabled = False
    links = [0, 0, 0, 0, 1]  # link 0 first clicked before the range, then three repeats
    ingest(ctx, [click_row(spec(n, a, t + n, link=link)) for n, link in enumerate(links, 1)])
    with ctx.sessions.begin() as session:
        session.get_one(WebhookEndpoint, eid).enabled = True
        assert replay(session, eid, t + 2, t + 10) == 1
    assert [d.click_id for d in deliveries(ctx, eid)] == [f"{5:032x}"]
