"""The /v1/domains API in process: registration, ownership, HTTPS-only, removal, errors."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

import control.acme.jobs
import control.domains
from control.api.app import build_app, make_context
from control.clock import now_ms
from control.db.migrate import upgrade
from control.dnscheck import DnsResult
from control.domains import add_domain
from control.settings import ControlSettings
from control.tenants import create_api_key, create_tenant
from tests.cluster import MASTER_KEY
from tests.races import commits_first

Client = TestClient[Litestar]
TARGET = "edge.clickgate.test"


def client_for(tmp_path: Path, target: str) -> tuple[Client, dict[str, dict[str, str]]]:
    settings = ControlSettings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}", master_key=MASTER_KEY, cname_target=target
    )
    ctx = make_context(settings)
    upgrade(ctx.engine)
    headers = {}
    with ctx.sessions.begin() as session:
        for name in ("acme", "globex"):
            tenant = create_tenant(session, ctx.sealer, name)
            headers[name] = {"Authorization": f"Bearer {create_api_key(session, tenant.id)}"}
    return TestClient(build_app(ctx, with_grpc=False)), headers


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Client, dict[str, dict[str, str]]]]:
    client, headers = client_for(tmp_path, TARGET)
    with client:
        yield client, headers


def test_register_answers_with_the_cname_to_create(
    api: tuple[Client, dict[str, dict[str, str]]],
) -> None:
    client, h = api
    created = client.post("/v1/domains", json={"name": " Click.Brand.Test. "}, headers=h["acme"])
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "click.brand.test" and body["state"] == "pending"
    assert body["dns_record"] == {"type": "CNAME", "name": "click.brand.test", "value": TARGET}
    proof = body["verification_record"]
    assert proof["type"] == "TXT" and proof["name"] == "_clickgate.click.brand.test"
    assert re.fullmatch(r"clickgate-verification=[0-9a-f]{32}", proof["value"])
    assert body["certificate"]["status"] == "none" and body["https_only"] is False
    listed = client.get("/v1/domains", headers=h["acme"]).json()["domains"]
    assert [d["name"] for d in listed] == ["click.brand.test"]
    assert client.get("/v1/domains", headers=h["globex"]).json()["domains"] == []


def test_a_domain_has_one_tenant(api: tuple[Client, dict[str, dict[str, str]]]) -> None:
    client, h = api
    assert client.post("/v1/domains", json={"name": "x.brand.test"}, headers=h["acme"]).is_success
    taken = client.post("/v1/domains", json={"name": "X.brand.test"}, headers=h["globex"])
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
    for method in ("GET", "DELETE"):
        response = client.request(method, "/v1/domains/x.brand.test", headers=h["globex"])
        assert response.status_code == 404
    patched = client.patch(
        "/v1/domains/x.brand.test", json={"https_only": True}, headers=h["globex"]
    )
    assert patched.status_code == 404


def age_claim(tmp_path: Path, name: str, hours: float, verified: bool = False) -> None:
    """Make a registration look `hours` old (and verified, if asked), as time would."""
    shift = int(hours * 3600_000)
    with sqlite3.connect(tmp_path / "api.db") as db:
        db.execute(
            "UPDATE domains SET created_ms = created_ms - ?,"
            " verified_ms = CASE WHEN ? THEN created_ms ELSE verified_ms END WHERE name = ?",
            (shift, verified, name),
        )


def test_an_unproved_registration_is_released_after_72_hours(
    api: tuple[Client, dict[str, dict[str, str]]], tmp_path: Path
) -> None:
    client, h = api
    squatted = client.post("/v1/domains", json={"name": "go.brand.test"}, headers=h["globex"])
    squatter_proof = squatted.json()["verification_record"]["value"]
    age_claim(tmp_path, "go.brand.test", 71)
    early = client.post("/v1/domains", json={"name": "go.brand.test"}, headers=h["acme"])
    assert early.status_code == 409 and "72 hours" in early.json()["error"]["message"]
    age_claim(tmp_path, "go.brand.test", 2)
    owner = client.post("/v1/domains", json={"name": "go.brand.test"}, headers=h["acme"])
    assert owner.status_code == 201, owner.text
    assert owner.json()["verification_record"]["value"] != squatter_proof
    assert client.get("/v1/domains/go.brand.test", headers=h["globex"]).status_code == 404
    # The owner's own pending registration is never taken from it by itself, and a
    # verified domain is never released, however old.
    again = client.post("/v1/domains", json={"name": "go.brand.test"}, headers=h["acme"])
    assert again.status_code == 409
    age_claim(tmp_path, "go.brand.test", 1000, verified=True)
    taken = client.post("/v1/domains", json={"name": "go.brand.test"}, headers=h["globex"])
    assert taken.status_code == 409
    shown = client.get("/v1/domains/go.brand.test", headers=h["acme"]).json()
    assert shown["verification_record"] is None  # proved once; only the CNAME is rechecked


def test_a_verified_domain_whose_cname_is_gone_for_30_days_is_released(
    api: tuple[Client, dict[str, dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name changed hands: the new owner, on another tenant, can register it (and must
    prove ownership); a CNAME seen again, or DNS trouble, never starts or shortens the wait."""
    client, h = api
    dns = [DnsResult(True, "CNAME and TXT found", True)]
    monkeypatch.setattr(control.acme.jobs, "check_domain", lambda *_: dns[0])

    def check() -> dict[str, object]:
        response = client.post("/v1/domains/go.brand.test/check", headers=h["acme"])
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    def lost_days_ago(days: float) -> None:
        with sqlite3.connect(tmp_path / "api.db") as db:
            db.execute(
                "UPDATE domains SET cname_lost_ms = ? WHERE name = 'go.brand.test'",
                (now_ms() - int(days * 24 * 3600_000),),
            )

    def globex_registers() -> int:
        response = client.post("/v1/domains", json={"name": "go.brand.test"}, headers=h["globex"])
        return response.status_code

    client.post("/v1/domains", json={"name": "go.brand.test"}, headers=h["acme"])
    assert check()["state"] == "verified" and check()["cname_lost_ms"] is None
    dns[0] = DnsResult(False, "no CNAME record: create go.brand.test. CNAME x.", False)
    before = now_ms()
    lost = check()["cname_lost_ms"]
    assert isinstance(lost, int) and before <= lost <= now_ms()
    assert check()["cname_lost_ms"] == lost  # the clock keeps its start
    dns[0] = DnsResult(False, "DNS lookup of go.brand.test failed (SERVFAIL)", None)
    assert check()["cname_lost_ms"] == lost
    lost_days_ago(29)
    refused = client.post("/v1/domains", json={"name": "go.brand.test"}, headers=h["globex"])
    assert refused.status_code == 409 and "30 days" in refused.json()["error"]["message"]
    # The CNAME is back (CAA now refuses our CA, but the name points here): clock reset.
    dns[0] = DnsResult(False, "CAA record at brand.test allows only other.ca", True)
    assert check()["cname_lost_ms"] is None
    assert globex_registers() == 409
    dns[0] = DnsResult(False, "CNAME points to other.example, not x", False)
    check()
    lost_days_ago(31)
    assert globex_registers() == 201
    assert client.get("/v1/domains/go.brand.test", headers=h["acme"]).status_code == 404
    taken = client.get("/v1/domains/go.brand.test", headers=h["globex"]).json()
    assert taken["state"] == "pending" and taken["verification_record"] is not None


def test_a_concurrent_registration_of_the_same_name_is_a_409(
    api: tuple[Client, dict[str, dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other request commits between this one's lookup and its insert: the unique
    constraint decides, and the loser gets the same 409 as a later request would."""
    client, h = api
    commits_first(
        monkeypatch,
        control.domains,
        tmp_path / "api.db",
        "INSERT INTO domains (tenant_id, name, is_default, created_ms, custom, dns_state,"
        " dns_reason, dns_failures, next_check_ms, https_only)"
        " VALUES (2, 'race.brand.test', 0, 0, 1, 'pending', '', 0, 0, 0)",
    )
    lost = client.post("/v1/domains", json={"name": "race.brand.test"}, headers=h["acme"])
    assert lost.status_code == 409, lost.text
    assert lost.json()["error"]["code"] == "conflict"


def test_https_only_and_removal(api: tuple[Client, dict[str, dict[str, str]]]) -> None:
    client, h = api
    client.post("/v1/domains", json={"name": "y.brand.test"}, headers=h["acme"])
    patched = client.patch("/v1/domains/y.brand.test", json={"https_only": True}, headers=h["acme"])
    assert patched.status_code == 200 and patched.json()["https_only"] is True
    assert client.get("/v1/domains/y.brand.test", headers=h["acme"]).json()["https_only"] is True
    assert client.delete("/v1/domains/y.brand.test", headers=h["acme"]).status_code == 204
    assert client.get("/v1/domains/y.brand.test", headers=h["acme"]).status_code == 404


BAD_NAMES = ["not a host", "localhost", "", "a..b", "x" * 300, "a_b.brand.test", "go.brand.test.."]
# No certificate authority certifies these, so they could never serve HTTPS; the CNAME
# target is clickgate's own name.
NOT_CERTIFIABLE = ["192.0.2.1", "2001:db8::1", "[2001:db8::1]", "click.brand.123"]
NOT_CERTIFIABLE += [
    "xn--abc.brand.test",
    "xn--a.test",
    TARGET,
    f"go.{TARGET}",
    "EDGE.clickgate.test.",
]


@pytest.mark.parametrize("name", BAD_NAMES + NOT_CERTIFIABLE)
def test_bad_names_are_400(api: tuple[Client, dict[str, dict[str, str]]], name: str) -> None:
    client, h = api
    response = client.post("/v1/domains", json={"name": name}, headers=h["acme"])
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"
    assert client.get("/v1/domains", headers=h["acme"]).json()["domains"] == []


def test_a_unicode_name_is_stored_as_browsers_send_it(
    api: tuple[Client, dict[str, dict[str, str]]],
) -> None:
    client, h = api
    created = client.post("/v1/domains", json={"name": "Klick.Bücher.test"}, headers=h["acme"])
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "klick.xn--bcher-kva.test"
    assert created.json()["dns_record"]["name"] == "klick.xn--bcher-kva.test"
    # Either spelling finds it; ASCII names DNS allows but IDNA would not stay allowed.
    assert client.get("/v1/domains/klick.bücher.test", headers=h["acme"]).status_code == 200
    assert client.get("/v1/domains/klick.xn--bcher-kva.test", headers=h["acme"]).is_success
    hyphens = client.post("/v1/domains", json={"name": "ab--cd.brand.test"}, headers=h["acme"])
    assert hyphens.status_code == 201, hyphens.text


def test_custom_domains_off_without_a_cname_target(tmp_path: Path) -> None:
    client, h = client_for(tmp_path, "")
    with client:
        response = client.post("/v1/domains", json={"name": "z.brand.test"}, headers=h["acme"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_configured"


def test_the_platform_domain_cannot_be_removed_by_a_tenant(tmp_path: Path) -> None:
    settings = ControlSettings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}", master_key=MASTER_KEY, cname_target=TARGET
    )
    ctx = make_context(settings)
    upgrade(ctx.engine)
    with ctx.sessions.begin() as session:
        tenant = create_tenant(session, ctx.sealer, "acme")
        add_domain(session, tenant.id, "click.acme.test", default=True)
        auth = {"Authorization": f"Bearer {create_api_key(session, tenant.id)}"}
    with TestClient(build_app(ctx, with_grpc=False)) as client:
        refused = client.delete("/v1/domains/click.acme.test", headers=auth)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "platform_domain"
        minted = client.post("/v1/links", json={"url": "https://e.example/"}, headers=auth)
        assert minted.json()["domain"] == "click.acme.test"
