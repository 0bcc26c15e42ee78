"""Click webhooks: signing, SSRF guard, outbox at ingest, the dispatcher and the API."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from control.api.app import build_app, make_context
from control.api.context import AppContext
from control.clock import now_ms
from control.db.migrate import upgrade
from control.db.models import Click, WebhookDelivery, WebhookEndpoint
from control.settings import ControlSettings
from control.store import CLICK_COLUMNS, insert_new_clicks
from control.tenants import create_api_key, create_tenant
from control.webhooks.dispatcher import Dispatcher
from control.webhooks.endpoints import create_endpoint
from control.webhooks.outbox import enqueue_click_events
from control.webhooks.signing import new_secret, sign, signed_headers
from control.webhooks.ssrf import Refused, refusal, resolve
from tests.cluster import MASTER_KEY
from tests.stats_data import Spec, row


@pytest.fixture
def ctx(database_url: str) -> Iterator[AppContext]:
    settings = ControlSettings(
        database_url=database_url, master_key=MASTER_KEY, webhook_allow_private=True
    )
    context = make_context(settings)
    upgrade(context.engine)
    yield context
    context.engine.dispose()


@dataclass
class Receiver:
    """A loopback HTTP receiver: /ok, /gone (410), /hang, /flaky (fails `fail` times)."""

    fail: int = 2
    hang_s: float = 3.0
    requests: list[tuple[str, dict[str, str], bytes, float]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str) -> int:
        if path == "/gone":
            return 410
        if path == "/hang":
            time.sleep(self.hang_s)
        if path == "/flaky":
            failures = sum(1 for r in self.requests if r[0] == "/flaky")
            return 500 if failures <= self.fail else 204
        return 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append((self.path, headers, body, time.monotonic()))
            self.send_response(state.answer(self.path))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def tenant(ctx: AppContext, name: str = "a") -> tuple[int, str]:
    with ctx.sessions.begin() as session:
        t = create_tenant(session, ctx.sealer, name)
        return t.id, create_api_key(session, t.id)


def endpoint(ctx: AppContext, tenant_id: int, url: str, **options: Any) -> tuple[int, str]:
    fields = {"events": ["click"], "mode": "every", "include_bots": False, "headers": {}}
    with ctx.sessions.begin() as session:
        row_, secret = create_endpoint(
            session, ctx.sealer, tenant_id, url=url, **{**fields, **options}
        )
        return row_.id, secret


def click_row(spec: Spec) -> tuple[Any, ...]:
    """A row as control.ingest builds it (store.CLICK_COLUMNS order, JSON as text)."""
    click = row(spec)
    values = {name: getattr(click, name) for name in CLICK_COLUMNS}
    for name in ("tags", "bot_reasons"):
        values[name] = msgspec.json.encode(values[name]).decode()
    return tuple(values[name] for name in CLICK_COLUMNS)


def ingest(ctx: AppContext, rows: list[tuple[Any, ...]]) -> int:
    """What Ingestor.ingest does around the outbox: enqueue only what was inserted."""
    with ctx.sessions.begin() as session:
        new = set(insert_new_clicks(session, rows))
        return enqueue_click_events(session, [r for r in rows if r[0] in new])


def spec(n: int, tenant_id: int, t: int, link: int = 0, bot: bool = False) -> Spec:
    url = f"https://shop.example/{link}"
    return Spec(n, tenant_id, t, "m1", link, "html", url, "click.test", ["news"], is_bot=bot)


def deliveries(ctx: AppContext, endpoint_id: int) -> list[WebhookDelivery]:
    with ctx.sessions() as session:
        return list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.id)
            )
        )


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


# --- SSRF guard ----------------------------------------------------------------------

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "192.0.2.1",
    "198.18.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2001:db8::1",
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address", REFUSED)
def test_ssrf_refuses(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) != ""


@pytest.mark.parametrize("address", ALLOWED)
def test_ssrf_allows_public(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == ""


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f000001", "localhost", "[::1]"])
def test_ssrf_resolves_every_form_before_checking(host: str) -> None:
    with pytest.raises(Refused):
        resolve(host.strip("[]"), 80)


def test_allow_private_opens_loopback_only_not_multicast() -> None:
    assert resolve("127.0.0.1", 80, allow_private=True) == ["127.0.0.1"]
    assert refusal(ipaddress.ip_address("224.0.0.1"), allow_private=True) == "multicast"


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
    assert payload["client"] == {"browser": "Chrome", "os": "Windows", "platform": "Desktop"}
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


def test_refused_destination_is_recorded_not_sent(ctx: AppContext) -> None:
    a, _ = tenant(ctx)
    eid, _ = endpoint(ctx, a, "http://127.0.0.1:9/x")
    ingest(ctx, [click_row(spec(1, a, now_ms()))])
    dispatcher = Dispatcher(ctx.sessions, ctx.sealer, allow_private=False)
    (job,) = dispatcher.claim()
    outcome = dispatcher.deliver(job)
    assert outcome.status == 0 and "loopback" in outcome.error
    assert deliveries(ctx, eid)[0].last_error == outcome.error


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
