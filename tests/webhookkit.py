"""Webhook test kit: an app context, loopback receivers, tenants, endpoints, clicks."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import select

from control.api.app import make_context
from control.api.context import AppContext
from control.db.migrate import upgrade
from control.db.models import WebhookDelivery
from control.ingest import with_streams
from control.settings import ControlSettings
from control.store import CLICK_COLUMNS, insert_new_clicks
from control.tenants import create_api_key, create_tenant
from control.webhooks.endpoints import create_endpoint
from control.webhooks.outbox import enqueue_click_events
from tests.cluster import MASTER_KEY, Cluster, wait_until
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
    """A loopback HTTP receiver: /ok, /gone (410), /hang, /slow (slow_s, then 200), /flaky
    (500 to the first `fail` requests of each webhook-id, then 204), /gated (200 once
    `gate` is set)."""

    fail: int = 2
    hang_s: float = 3.0
    slow_s: float = 0.1
    gate: threading.Event = field(default_factory=threading.Event)
    # (path, lower-cased headers, body, time.monotonic() on arrival)
    requests: list[tuple[str, dict[str, str], bytes, float]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, msg_id: str) -> int:
        if path == "/gone":
            return 410
        if path == "/hang":
            time.sleep(self.hang_s)
        if path == "/slow":
            time.sleep(self.slow_s)
        if path == "/gated":
            self.gate.wait(30)
        if path == "/flaky":
            seen = sum(1 for r in self.requests if r[0] == path and r[1]["webhook-id"] == msg_id)
            return 500 if seen <= self.fail else 204
        return 200

    def at(self, path: str) -> list[tuple[str, dict[str, str], bytes, float]]:
        return [r for r in list(self.requests) if r[0] == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append((self.path, headers, body, time.monotonic()))
            self.send_response(state.answer(self.path, headers.get("webhook-id", "")))
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
        rows = with_streams(session, rows)
        new = set(insert_new_clicks(session, rows))
        return enqueue_click_events(session, [r for r in rows if r[0] in new])


def spec(
    n: int, tenant_id: int, t: int, link: int = 0, bot: bool = False, message: str = "m1"
) -> Spec:
    url = f"https://shop.example/{link}"
    return Spec(n, tenant_id, t, message, link, "html", url, "click.test", ["news"], is_bot=bot)


def deliveries(ctx: AppContext, endpoint_id: int) -> list[WebhookDelivery]:
    with ctx.sessions() as session:
        return list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.id)
            )
        )


def start_control(cluster: Cluster) -> None:
    """cluster.start_control with a longer wait: on a loaded two-core machine importing the
    control plane alone has taken 10 s, and Granian imports it twice."""
    cluster.start("control", "control")
    wait_until(lambda: httpx.get(f"{cluster.api_url}/healthz").status_code == 200, 90, "API")
