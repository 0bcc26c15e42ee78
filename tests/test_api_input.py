"""Bad input is a 400 (or 404/409) with a JSON error on both databases: never a 500."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.exc import DataError

from control.api.app import build_app, make_context
from control.api.errors import handle_bad_value
from control.db.migrate import upgrade
from control.domains import add_domain
from control.settings import ControlSettings
from control.tenants import create_api_key, create_tenant
from tests.cluster import MASTER_KEY

Client = TestClient[Litestar]
URL = "https://example.com/x"
BIG = "99999999999999999999"  # beyond 64 bits


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[tuple[Client, dict[str, str]]]:
    settings = ControlSettings(
        database_url=database_url,
        click_port=0,
        master_key=MASTER_KEY,
        cname_target="edge.clickgate.test",
    )
    ctx = make_context(settings)
    upgrade(ctx.engine)
    with ctx.sessions.begin() as session:
        tenant = create_tenant(session, ctx.sealer, "acme")
        add_domain(session, tenant.id, "click.acme.test", default=True)
        key = create_api_key(session, tenant.id)
    with TestClient(build_app(ctx, with_grpc=False)) as client:
        yield client, {"Authorization": f"Bearer {key}"}
    ctx.engine.dispose()


def rewrite(**fields: Any) -> dict[str, Any]:
    return {"message_id": "m1", "text": URL, **fields}


REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/v1/links", {"url": URL, "message_id": "a\x00b"}, "message_id"),
    ("POST", "/v1/links", {"url": URL, "recipient": "r\x00"}, "recipient"),
    ("POST", "/v1/links", {"url": URL, "tags": ["k:\x00"]}, "tags"),
    ("POST", "/v1/links", {"url": URL, "message_id": "m" * 201}, "message_id"),
    ("POST", "/v1/links", {"url": URL, "tags": ["t"] * 21}, "tags"),
    ("POST", "/v1/links", {"url": URL, "messageId": "m1"}, "messageId"),  # unknown field
    ("POST", "/v1/links", {"url": URL, "domain": "a\x00"}, "domain"),
    ("POST", "/v1/messages/rewrite", rewrite(message_id="a\x00"), "message_id"),
    ("POST", "/v1/messages/rewrite", rewrite(stream="a\x00"), "stream"),
    ("POST", "/v1/messages/rewrite", rewrite(recipient="r\x00"), "recipient"),
    ("POST", "/v1/revocations", {"kind": "tenant", "reason": "r" * 501}, "reason"),
    ("POST", "/v1/revocations", {"kind": "tenant", "note": "x"}, "note"),
    ("POST", "/v1/domains", {"name": "a.brand.test", "https": True}, "https"),
    ("POST", "/v1/streams", {"name": "s1", "url_params": {"a": "b\x00"}}, "NUL"),
    ("POST", "/v1/streams", {"name": "s1", "url_params": {"a\x00": "b"}}, "NUL"),
    # Values of the wrong JSON type are refused, not converted ("false" is no bool).
    ("PATCH", "/v1/tenant", {"truncate_ips": "false"}, "truncate_ips: Expected `bool | null`"),
    ("PATCH", "/v1/tenant", {"truncate_ips": 0}, "truncate_ips: Expected `bool | null`"),
    ("PATCH", "/v1/tenant", {"retention_days": "5"}, "retention_days: Expected `int | null`"),
    ("PATCH", "/v1/tenant", {"retention_days": 1.0}, "retention_days: Expected `int | null`"),
    ("POST", "/v1/streams", {"name": "s1", "default": "true"}, "default: Expected `bool`"),
    ("POST", "/v1/links", {"url": "https://e.com:0/"}, "host"),
    ("POST", "/v1/links", {"url": "https://e.com:99999/"}, "host"),
    ("POST", "/v1/links", {"url": "https://.../"}, "host"),
]


@pytest.mark.parametrize(("method", "path", "body", "named"), REFUSED)
def test_bad_fields_are_named_in_a_400(
    api: tuple[Client, dict[str, str]], method: str, path: str, body: dict[str, Any], named: str
) -> None:
    client, auth = api
    response = client.request(method, path, json=body, headers=auth)
    assert response.status_code == 400, response.text
    assert named in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "named"),
    [
        ("POST", f"/v1/keys/{BIG}/revoke", "key_id"),
        ("DELETE", f"/v1/revocations/{BIG}", "revocation_id"),
        ("GET", f"/v1/webhooks/{BIG}", "webhook_id"),
        ("GET", f"/v1/webhooks/{BIG}/deliveries", "webhook_id"),
        ("POST", f"/v1/webhooks/{2**63}/rotate", "webhook_id"),
    ],
)
def test_numbers_beyond_64_bits_are_400(
    api: tuple[Client, dict[str, str]],
    method: str,
    path: str,
    named: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refused before the database sees them: a 400 naming the parameter, nothing logged."""
    client, auth = api
    response = client.request(method, path, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(f"{named}: ")
    assert "Traceback" not in caplog.text and "refused a value" not in caplog.text


@pytest.mark.parametrize(
    "path",
    ["/v1/streams/a%00b", "/v1/domains/a%00b", "/v1/messages/a%00b/clicks"],
)
def test_nul_in_a_path_is_never_a_500(api: tuple[Client, dict[str, str]], path: str) -> None:
    client, auth = api
    response = client.get(path, headers=auth)
    # PostgreSQL cannot even compare such text (400); SQLite finds nothing (404, or an
    # empty list of a message's clicks).
    assert response.status_code in (200, 400, 404), response.text


@pytest.mark.parametrize("path", ["/v1/links", "/v1/messages/rewrite", "/v1/streams"])
def test_json_nested_too_deeply_is_a_400_not_a_500(
    api: tuple[Client, dict[str, str]], path: str
) -> None:
    client, auth = api
    deep = b"[" * 5000 + b"]" * 5000  # msgspec gives up with a RecursionError
    for headers in (auth, {}):  # with or without a key: the body is read first
        response = client.post(
            path, content=deep, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"] == "request body: JSON nested too deeply"


@pytest.mark.parametrize("message_id", ["a\x00b", "m" * 201])
def test_a_message_id_in_the_path_has_the_limits_of_one_in_a_body(
    api: tuple[Client, dict[str, str]], message_id: str
) -> None:
    client, auth = api
    for suffix in ("clicks", "timeline"):
        response = client.get(f"/v1/messages/{quote(message_id)}/{suffix}", headers=auth)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"].startswith("message_id:")


def test_a_body_that_is_not_utf8_is_a_400(api: tuple[Client, dict[str, str]]) -> None:
    client, auth = api
    response = client.post(
        "/v1/messages/rewrite",
        content=b'{"message_id":"m1","text":"caf\xe9"}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "UTF-8" in response.json()["error"]["message"]


def test_links_on_a_custom_domain_wait_for_its_cname(api: tuple[Client, dict[str, str]]) -> None:
    client, auth = api
    pending = client.post("/v1/domains", json={"name": "links.brand.example"}, headers=auth)
    assert pending.status_code == 201, pending.text
    response = client.post(
        "/v1/links", json={"url": URL, "domain": "links.brand.example"}, headers=auth
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "domain_not_ready"


def test_a_missing_body_is_named(api: tuple[Client, dict[str, str]]) -> None:
    client, auth = api
    response = client.post(
        "/v1/links", content=b"", headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "a JSON request body is required"


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("sqlstate", "status"), [(None, 400), ("22003", 400), ("22001", 500)])
def test_only_data_errors_caused_by_input_are_400s(sqlstate: str | None, status: int) -> None:
    # 22001 (a value too long for its column) means a missing check of ours: it stays a 500.
    error = DataError("SELECT 1", {}, _DriverError(sqlstate))
    assert handle_bad_value(cast(Any, None), error).status_code == status


def test_a_body_that_stops_arriving_is_a_408(
    api: tuple[Client, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Content-Length: 100 and 6 bytes sent, then nothing: a 408 once the body timeout
    passes, not a request held open for as long as the client likes."""
    from control.api import bodytimeout

    monkeypatch.setattr(bodytimeout, "BODY_TIMEOUT_S", 0.3)
    client, auth = api
    headers = [(b"content-type", b"application/json"), (b"content-length", b"100")]
    headers += [(k.lower().encode(), v.encode()) for k, v in auth.items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/links", "raw_path": b"/v1/links", "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    chunks = [{"type": "http.request", "body": b'{"url"', "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await asyncio.Event().wait()  # the client went quiet
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> float:
        began = time.monotonic()
        await asyncio.wait_for(client.app(scope, receive, send), 10)
        return time.monotonic() - began

    took = asyncio.run(run())
    assert sent[0]["status"] == 408
    assert b"request_timeout" in sent[1]["body"]
    assert took < 5


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/v1/domains/%FF", "path"),
        ("/v1/streams/caf%E9", "path"),
        ("/v1/messages/%C3/clicks", "path"),
        ("/v1/stats/clicks?tag=%FF", "query"),
        ("/v1/clicks?message_id=caf%E9", "query"),
    ],
)
def test_a_target_that_is_not_utf8_is_a_400(
    api: tuple[Client, dict[str, str]], path: str, named: str
) -> None:
    """Not read as U+FFFD, which would look up (or match) another, replaced, string."""
    client, auth = api
    response = client.get(path, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == f"{named}: not UTF-8 once percent-decoded"
    # Percent-encoded UTF-8 is of course fine.
    assert client.get("/v1/messages/caf%C3%A9/clicks", headers=auth).status_code == 200


def _get_raw(client: Client, auth: dict[str, str], target: bytes) -> dict[str, Any]:
    """GET a target exactly as given, raw UTF-8 included (httpx would percent-encode it)."""
    path, _, query = target.partition(b"?")
    headers = [(k.lower().encode(), v.encode()) for k, v in auth.items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path.decode(), "raw_path": path, "query_string": query,
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(client.app(scope, receive, send))
    return {"status": sent[0]["status"], "json": json.loads(sent[1]["body"])}


def test_raw_utf8_in_a_query_string_is_read_as_utf8(api: tuple[Client, dict[str, str]]) -> None:
    """curl sends `?tag=日本` unencoded; it is the same filter as `?tag=%E6%97%A5%E6%9C%AC`."""
    client, auth = api
    rewritten = client.post("/v1/messages/rewrite", json=rewrite(tags=["日本"]), headers=auth)
    assert rewritten.status_code == 200, rewritten.text
    sent = _get_raw(client, auth, "/v1/stats/overview?tag=日本".encode())
    assert sent["status"] == 200, sent
    assert sent["json"]["messages_sent"] == 1
    refused = _get_raw(client, auth, "/v1/stats/overview?tz=Ōsaka".encode())
    assert refused["status"] == 400 and "Ōsaka" in refused["json"]["error"]["message"], refused


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
def test_a_body_that_says_it_is_not_json_is_a_415(
    api: tuple[Client, dict[str, str]], content_type: str
) -> None:
    client, auth = api
    body = b'{"url": "https://example.com/x"}'
    refused = client.post("/v1/links", content=body, headers={**auth, "Content-Type": content_type})
    assert refused.status_code == 415, refused.text
    assert refused.json()["error"]["code"] == "unsupported_media_type"
    assert content_type in refused.json()["error"]["message"]
    # JSON with a charset, a +json type, or no Content-Type at all is read as JSON.
    for headers in ({"Content-Type": "application/json; charset=utf-8"}, {}):
        response = client.post("/v1/links", content=body, headers={**auth, **headers})
        assert response.status_code == 201, response.text


def test_a_compressed_body_is_a_415_not_read_as_json(api: tuple[Client, dict[str, str]]) -> None:
    client, auth = api
    body = b'{"url": "https://example.com/x"}'
    for encoding, content in (("gzip", gzip.compress(body)), ("gzip", body), ("br", body)):
        headers = {**auth, "Content-Type": "application/json", "Content-Encoding": encoding}
        refused = client.post("/v1/links", content=content, headers=headers)
        assert refused.status_code == 415, refused.text  # plain JSON labelled gzip was a 201
        assert "Content-Encoding" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/streams", b'{"name": "dup1", "name": "dup2"}', "name"),
        (
            "/v1/links",
            b'{"url": "https://a.example/", "tags": [], "url": "https://b.example/"}',
            "url",
        ),
    ],
)
def test_a_key_given_twice_in_a_body_is_a_400(
    api: tuple[Client, dict[str, str]], path: str, body: bytes, named: str
) -> None:
    """msgspec kept the last one: a proxy or log that read the first disagreed with it."""
    client, auth = api
    refused = client.post(path, content=body, headers={**auth, "Content-Type": "application/json"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["message"] == f"{named}: given more than once"
