"""Privacy controls: per-tenant truncation switch, retention job, deleting a recipient's clicks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from control.api.app import build_app, make_context
from control.api.context import AppContext
from control.clock import now_ms
from control.db.migrate import upgrade
from control.db.models import Click, Erasure, Tenant, WebhookDelivery, WebhookEndpoint
from control.links import recipient_ref
from control.privacy import (
    DAY_MS,
    ERASURE_KEEP_DAYS,
    LONG_REFS_HASHED_MS,
    enforce_retention,
    erasure_hash,
)
from control.settings import ControlSettings
from control.tenants import create_api_key, create_tenant
from tests.cluster import MASTER_KEY
from tests.stats_data import Spec, row


@pytest.fixture
def ctx(database_url: str) -> Iterator[AppContext]:
    context = make_context(ControlSettings(database_url=database_url, master_key=MASTER_KEY))
    upgrade(context.engine)
    yield context
    context.engine.dispose()


def add_click(
    ctx: AppContext, n: int, tenant: int, age_days: float, recipient: str, sent_at: int = 0
) -> None:
    spec = Spec(n, tenant, now_ms() - int(age_days * DAY_MS), "m", 0, "html", "https://e/", "h")
    click = row(spec)
    click.recipient = recipient
    if sent_at:
        click.sent_at = sent_at
    with ctx.sessions.begin() as session:
        session.add(click)


def count(ctx: AppContext, tenant: int) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).where(Click.tenant_id == tenant)) or 0)


def tenants(ctx: AppContext) -> tuple[int, int, str]:
    with ctx.sessions.begin() as session:
        a = create_tenant(session, ctx.sealer, "a")
        b = create_tenant(session, ctx.sealer, "b")
        key = create_api_key(session, a.id)
        return a.id, b.id, key


def test_retention_deletes_only_old_clicks_of_tenants_that_set_it(ctx: AppContext) -> None:
    a, b, key = tenants(ctx)
    for n, (tenant, age) in enumerate([(a, 40), (a, 10), (b, 40)], start=1):
        add_click(ctx, n, tenant, age, "")
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        response = client.patch("/v1/tenant", json={"retention_days": 30}, headers=auth)
        assert response.status_code == 200, response.text
        assert response.json()["retention_days"] == 30
        bad = client.patch("/v1/tenant", json={"retention_days": -1}, headers=auth)
        assert bad.status_code == 400
        assert client.patch("/v1/tenant", json={"nope": 1}, headers=auth).status_code == 400
    with ctx.sessions.begin() as session:
        assert enforce_retention(session) == 1
    assert (count(ctx, a), count(ctx, b)) == (1, 1)  # tenant b keeps everything


def test_delete_every_click_of_a_recipient(ctx: AppContext) -> None:
    a, b, key = tenants(ctx)
    add_click(ctx, 1, a, 1, recipient_ref(a, "Jane@Example.com"))
    add_click(ctx, 2, a, 1, recipient_ref(a, "jane@example.com"))
    add_click(ctx, 3, a, 1, recipient_ref(a, "bob@example.com"))
    add_click(ctx, 4, b, 1, recipient_ref(b, "jane@example.com"))
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        response = client.delete("/v1/recipients/JANE@example.com/clicks", headers=auth)
        assert response.status_code == 200, response.text
        assert response.json() == {"deleted": 2}
        assert client.get("/v1/tenant", headers=auth).json()["truncate_ips"] is True
        off = client.patch("/v1/tenant", json={"truncate_ips": False}, headers=auth)
        assert off.json()["truncate_ips"] is False
    assert (count(ctx, a), count(ctx, b)) == (1, 1)  # the other tenant's Jane stays


def test_long_recipient_references_stay_distinct(ctx: AppContext) -> None:
    """A sender's own reference longer than fits a token is hashed whole: two that share
    their first 64 characters are two recipients, and each is deleted on its own."""
    a, _, key = tenants(ctx)
    first, second = "customer:" + "x" * 60 + ":1", "customer:" + "x" * 60 + ":2"
    assert recipient_ref(a, first) != recipient_ref(a, second)
    assert len(recipient_ref(a, first)) <= 64 and recipient_ref(a, "ref-7") == "ref-7"
    add_click(ctx, 1, a, 1, recipient_ref(a, first))
    add_click(ctx, 2, a, 1, recipient_ref(a, second))
    before_hashing = LONG_REFS_HASHED_MS - DAY_MS
    add_click(ctx, 3, a, 1, first[:64], sent_at=before_hashing)  # a link of the cut form
    # Today exactly 64 characters are someone's own reference, which shares that prefix.
    add_click(ctx, 4, a, 1, first[:64], sent_at=now_ms())
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        response = client.delete(f"/v1/recipients/{first}/clicks", headers=auth)
        assert response.json() == {"deleted": 2}, response.text
    with ctx.sessions() as session:
        left = session.execute(select(Click.click_id, Click.recipient)).all()
    assert sorted(r for _, r in left) == sorted([recipient_ref(a, second), first[:64]])
    # And the erasure does not drop that other recipient's late clicks either.
    with ctx.sessions() as session:
        assert not session.scalars(
            select(Erasure).where(Erasure.recipient_hash == erasure_hash(a, first[:64]))
        ).all()


def test_a_reference_with_a_slash_is_deleted_through_the_query_form(ctx: AppContext) -> None:
    a, _, key = tenants(ctx)
    add_click(ctx, 1, a, 1, recipient_ref(a, "crm/123"))
    add_click(ctx, 2, a, 1, recipient_ref(a, "crm/124"))
    with TestClient[Litestar](build_app(ctx, with_grpc=False)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        response = client.delete(
            "/v1/recipients/clicks", params={"recipient": "crm/123"}, headers=auth
        )
        assert response.json() == {"deleted": 1}, response.text
        missing = client.delete("/v1/recipients/clicks", headers=auth)
        assert missing.status_code == 400, missing.text
    assert count(ctx, a) == 1


def test_retention_deletes_old_webhook_payloads_and_spent_erasures(ctx: AppContext) -> None:
    """A delivery's payload is the click; a replay of an old range must not send clicks
    retention deleted. An erasure is kept only while a late click can still arrive."""
    a, _, _ = tenants(ctx)
    now = now_ms()
    with ctx.sessions.begin() as session:
        hook = WebhookEndpoint(
            tenant_id=a, url="https://h.example/", events=["click"], mode="every",
            include_bots=False, headers={}, secret=b"x", enabled=True, disabled_reason="",
            created_ms=0, changed_ms=0,
        )  # fmt: skip
        session.add(hook)
        session.flush()
        endpoint_id = hook.id
        tenant = session.get(Tenant, a)
        assert tenant is not None
        tenant.retention_days = 30
        for n, age in ((1, 40), (2, 10)):
            session.add(
                WebhookDelivery(
                    id=f"msg_{n}_{endpoint_id}", endpoint_id=endpoint_id, tenant_id=a,
                    click_id=str(n), event_time_ms=now - age * DAY_MS, payload="{}",
                    status="delivered", attempts=1, next_attempt_ms=0, locked_by="",
                    locked_until_ms=0, attempt_log=[], created_ms=0,
                )
            )  # fmt: skip
        for days in (ERASURE_KEEP_DAYS + 1, 1):
            session.add(Erasure(tenant_id=a, recipient_hash="h", erased_ms=now - days * DAY_MS))
    with ctx.sessions.begin() as session:
        enforce_retention(session)
    with ctx.sessions() as session:
        assert session.scalars(select(WebhookDelivery.id)).all() == [f"msg_2_{endpoint_id}"]
        assert len(session.scalars(select(Erasure.id)).all()) == 1
