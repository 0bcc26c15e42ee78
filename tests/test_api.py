"""The HTTP API in process: auth, links, clicks, errors as JSON, the OpenAPI document."""

from __future__ import annotations

import binascii
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

import control.revocations
from control.api.app import build_app, make_context
from control.db.migrate import upgrade
from control.domains import add_domain
from control.settings import ControlSettings
from control.tenants import create_api_key, create_tenant, revoke_api_key
from edge import token
from tests.cluster import MASTER_KEY
from tests.races import commits_first

Client = TestClient[Litestar]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Client, dict[str, str], dict[str, str]]]:
    settings = ControlSettings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}", click_port=0, master_key=MASTER_KEY
    )
    ctx = make_context(settings)
    upgrade(ctx.engine)
    keys = {}
    with ctx.sessions.begin() as session:
        for name, domain in (("acme", "click.acme.test"), ("globex", "click.globex.test")):
            tenant = create_tenant(session, ctx.sealer, name)
            add_domain(session, tenant.id, domain, default=True)
            keys[name] = create_api_key(session, tenant.id)
        revoked = create_api_key(session, tenant.id)
        revoke_api_key(session, revoked)
    keys["revoked"] = revoked
    with TestClient(build_app(ctx, with_grpc=False)) as client:
        yield client, {n: f"Bearer {k}" for n, k in keys.items()}, keys


def test_mint_link_returns_a_verifiable_tracked_url(
    api: tuple[Client, dict[str, str], dict[str, str]],
) -> None:
    client, auth, _ = api
    response = client.post(
        "/v1/links",
        json={
            "url": "https://example.com/x?a=1&b=2",
            "message_id": "m1",
            "tags": ["t1"],
            "recipient": "Jane@Example.com",
        },
        headers={"Authorization": auth["acme"]},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["tracked_url"].startswith("https://click.acme.test/example.com/")
    path = body["tracked_url"].removeprefix("https://click.acme.test/")
    netloc, _, encoded = path.partition("/")
    raw = binascii.a2b_base64(encoded.replace("-", "+").replace("_", "/"))
    _, decoded = token.decode_raw(netloc, raw)
    assert token.destination(netloc, decoded) == "https://example.com/x?a=1&b=2"
    assert decoded.message_id == "m1"
    assert "jane" not in decoded.recipient.lower()  # never an address in clear
    assert decoded.recipient.startswith("h:")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"url": "javascript:alert(1)"}, 400, "invalid_url"),
        ({"url": "mailto:x@example.com"}, 400, "invalid_url"),
        ({"url": "https://example.com/\r\nX: y"}, 400, "invalid_url"),
        # Authorities a browser reads as another host than the one spelled, which a host
        # revocation (compared with the spelled host) would miss.
        ({"url": "https://\\evil.example/x"}, 400, "invalid_url"),
        ({"url": "https://good.example\\@evil.example/"}, 400, "invalid_url"),
        ({"url": "https://%EF%BD%85vil.example/"}, 400, "invalid_url"),  # fullwidth e
        ({"url": "https://evil%E3%80%82example/"}, 400, "invalid_url"),  # ideographic dot
        ({"url": "https://b%C3%BCcher.example/"}, 400, "invalid_url"),
        ({"url": "http://0x01020304/"}, 400, "invalid_url"),
        ({"url": "http://16909060/"}, 400, "invalid_url"),
        ({"url": "http://01.02.03.04/"}, 400, "invalid_url"),
        ({"url": "http://1.2.772/"}, 400, "invalid_url"),
        ({"url": "https://[::1/"}, 400, "invalid_url"),
        ({"url": "https://example.com/", "domain": "click.globex.test"}, 404, "not_found"),
        ({"nope": 1}, 400, "bad_request"),
        ({"url": 5}, 400, "bad_request"),
    ],
)
def test_bad_link_requests_get_clear_json_errors(
    api: tuple[Client, dict[str, str], dict[str, str]],
    payload: dict[str, object],
    status: int,
    code: str,
) -> None:
    client, auth, _ = api
    response = client.post("/v1/links", json=payload, headers={"Authorization": auth["acme"]})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "url",
    [
        "https://user:p%40ss@example.com:8443/x",
        "http://192.0.2.1/",
        "https://[2001:db8::1]:8080/p?q=1#f",
        "HTTPS://Example.COM./a\\b",  # a backslash past the authority is path
        "https://xn--bcher-kva.example/",
        "https://a_b.example/",
    ],
)
def test_links_to_hosts_spelled_as_browsers_read_them_are_minted(
    api: tuple[Client, dict[str, str], dict[str, str]], url: str
) -> None:
    client, auth, _ = api
    response = client.post("/v1/links", json={"url": url}, headers={"Authorization": auth["acme"]})
    assert response.status_code == 201, response.text
    assert response.json()["url"] == url


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("Shop.Example.", "shop.example"),
        ("a_b.example", "a_b.example"),
        ("192.0.2.1", "192.0.2.1"),
        ("[2001:DB8:0::1]", "[2001:db8::1]"),
        ("2001:db8::1", "[2001:db8::1]"),
        ("evil.example:443", None),
        ("https://evil.example/", None),
        ("[fe80::1%eth0]", None),
        ("[2001:db8::zz]", None),
        ("a..b", None),
        ("", None),
    ],
)
def test_a_host_revocation_takes_any_host_a_link_may_go_to(
    api: tuple[Client, dict[str, str], dict[str, str]], value: str, stored: str | None
) -> None:
    client, auth, _ = api
    body = {"kind": "host", "value": value}
    response = client.post("/v1/revocations", json=body, headers={"Authorization": auth["acme"]})
    if stored is None:
        assert response.status_code == 400, response.text
        assert "not a host name or IPv6 address" in response.json()["error"]["message"]
    else:
        assert response.status_code == 201, response.text
        assert response.json()["value"] == stored


def test_malformed_json_is_a_400(api: tuple[Client, dict[str, str], dict[str, str]]) -> None:
    client, auth, _ = api
    response = client.post(
        "/v1/links",
        content=b"{not json",
        headers={"Authorization": auth["acme"], "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [b'{"url": "https://a.example/\\ud800"}', b'{"url": "https://a.example/\\udc00x"}'],
)
def test_a_lone_surrogate_escape_is_a_400_that_says_so(
    api: tuple[Client, dict[str, str], dict[str, str]], body: bytes
) -> None:
    client, auth, _ = api
    headers = {"Authorization": auth["acme"], "Content-Type": "application/json"}
    response = client.post("/v1/links", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert "lone UTF-16 surrogate" in response.json()["error"]["message"]
    paired = b'{"url": "https://a.example/", "message_id": "\\ud83d\\ude00"}'  # an emoji
    assert client.post("/v1/links", content=paired, headers=headers).status_code == 201


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer cg_x_y", "revoked"])
def test_missing_bad_or_revoked_keys_are_401(
    api: tuple[Client, dict[str, str], dict[str, str]], header: str | None
) -> None:
    client, auth, _ = api
    headers = {} if header is None else {"Authorization": auth.get(header, header)}
    for method, path in (("POST", "/v1/links"), ("GET", "/v1/messages/m1/clicks")):
        response = client.request(method, path, headers=headers, json={"url": "https://a.example/"})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_two_authorization_headers_are_a_401_whichever_comes_first(
    api: tuple[Client, dict[str, str], dict[str, str]],
) -> None:
    client, auth, _ = api
    for pair in ((auth["acme"], "Bearer bogus"), ("Bearer bogus", auth["acme"])):
        headers = [("Authorization", pair[0]), ("Authorization", pair[1])]
        response = client.get("/v1/messages/m1/clicks", headers=headers)
        assert response.status_code == 401, response.text
        assert "one Authorization header" in response.json()["error"]["message"]
    assert client.get("/v1/messages/m1/clicks", headers={"Authorization": auth["acme"]}).is_success


def test_unknown_route_is_json_404(api: tuple[Client, dict[str, str], dict[str, str]]) -> None:
    client, _, _ = api
    response = client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_openapi_document_lists_the_api(api: tuple[Client, dict[str, str], dict[str, str]]) -> None:
    client, _, _ = api
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/v1/links" in doc["paths"]
    assert "/v1/messages/{message_id}/clicks" in doc["paths"]
    assert "bearer" in doc["components"]["securitySchemes"]


def test_a_second_rotation_retires_the_key_still_waiting(
    api: tuple[Client, dict[str, str], dict[str, str]],
) -> None:
    client, auth, _ = api
    headers = {"Authorization": auth["acme"]}
    first = client.post("/v1/keys/rotate", headers=headers).json()["key_id"]
    second = client.post("/v1/keys/rotate", headers=headers).json()["key_id"]
    keys = {k["key_id"]: k for k in client.get("/v1/keys", headers=headers).json()["keys"]}
    assert (keys[first]["state"], keys[first]["pending"]) == ("retired", False)
    assert (keys[second]["state"], keys[second]["pending"]) == ("verify-only", True)
    assert [k["state"] for k in keys.values()].count("active") == 1  # the one signing


def test_a_revocation_added_concurrently_is_a_409(
    api: tuple[Client, dict[str, str], dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other request commits between this one's lookup and its insert: the unique
    constraint decides, and the loser gets the 409 a later request would get."""
    client, auth, _ = api
    commits_first(
        monkeypatch,
        control.revocations,
        tmp_path / "api.db",
        "INSERT INTO revocations (tenant_id, kind, value, reason, created_ms)"
        " VALUES (1, 'host', 'race.example', '', 0)",
    )
    body = {"kind": "host", "value": "race.example"}
    lost = client.post("/v1/revocations", json=body, headers={"Authorization": auth["acme"]})
    assert lost.status_code == 409, lost.text
    assert lost.json()["error"] == {
        "code": "conflict",
        "message": "host 'race.example' is already revoked",
    }


def test_of_concurrent_requests_lifting_a_revocation_one_succeeds(
    api: tuple[Client, dict[str, str], dict[str, str]],
) -> None:
    client, auth, _ = api
    headers = {"Authorization": auth["acme"]}

    def lift(path: str) -> int:
        return client.delete(path, headers=headers).status_code

    for n in range(5):
        body = {"kind": "message", "value": f"m-{n}"}
        created = client.post("/v1/revocations", json=body, headers=headers)
        assert created.status_code == 201, created.text
        path = f"/v1/revocations/{created.json()['id']}"
        with ThreadPoolExecutor(6) as pool:
            codes = sorted(pool.map(lift, [path] * 6))
        assert codes == [204, 404, 404, 404, 404, 404]


def test_a_retried_delete_never_lifts_a_newer_revocation(
    api: tuple[Client, dict[str, str], dict[str, str]],
) -> None:
    # SQLite without AUTOINCREMENT gave the next row the deleted highest id again.
    client, auth, _ = api
    headers = {"Authorization": auth["acme"]}
    first = client.post(
        "/v1/revocations", json={"kind": "host", "value": "a.example"}, headers=headers
    )
    assert (
        client.delete(f"/v1/revocations/{first.json()['id']}", headers=headers).status_code == 204
    )
    second = client.post(
        "/v1/revocations", json={"kind": "host", "value": "b.example"}, headers=headers
    )
    assert second.json()["id"] != first.json()["id"]
    retried = client.delete(f"/v1/revocations/{first.json()['id']}", headers=headers)
    assert retried.status_code == 404
    listed = client.get("/v1/revocations", headers=headers).json()
    assert [r["value"] for r in listed["revocations"]] == ["b.example"]
    ids = []
    for n in range(2):  # webhook endpoints alike
        made = client.post(
            "/v1/webhooks", json={"url": f"https://h{n}.example/hook"}, headers=headers
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
        assert client.delete(f"/v1/webhooks/{ids[-1]}", headers=headers).status_code == 204
    assert ids[0] != ids[1]


def test_a_database_that_is_down_is_a_503_not_a_500(caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL stopped or restarting: every request used to be a 500 with a traceback."""
    port = socket.socket()
    port.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    url = f"postgresql://postgres@127.0.0.1:{port.getsockname()[1]}/test"
    ctx = make_context(ControlSettings(database_url=url, click_port=0, master_key=MASTER_KEY))
    with TestClient(build_app(ctx, with_grpc=False)) as client:
        answer = client.get(
            "/v1/revocations", headers={"Authorization": "Bearer cg_1a2b3c4d_secret"}
        )
    port.close()
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.json()["error"]["code"] == "unavailable"
    assert "unhandled error" not in caplog.text
