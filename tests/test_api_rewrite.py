"""POST /v1/messages/rewrite and /v1/streams in process: tokens, modes, streams, isolation."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from control.api.app import build_app, make_context
from control.api.context import AppContext
from control.db.migrate import upgrade
from control.db.models import Domain, Message
from control.domains import add_domain, register_domain
from control.keys import active_key, key_secret
from control.messages import RewriteRequest, rewrite
from control.settings import ControlSettings
from control.tenants import create_api_key, create_tenant
from edge import token
from tests.cluster import MASTER_KEY

Client = TestClient[Litestar]

HTML = (
    '<p><a href="https://example.com/a?x=1&amp;y=2" data-clickgate-tags="cta:hero">Buy</a>\n'
    '<a href="mailto:sales@example.com">mail</a>\n'
    "<a HREF='https://example.com/b' data-clickgate-no-track>no</a></p>"
)
TEXT = "See https://example.com/c. Or (https://example.com/d)!"


@dataclass
class Api:
    client: Client
    ctx: AppContext
    auth: dict[str, dict[str, str]]
    tenants: dict[str, int]

    def post(self, path: str, who: str = "acme", **body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.auth[who])

    def rewrite(self, who: str = "acme", **body: Any) -> Any:
        body.setdefault("message_id", "m-1")
        return self.post("/v1/messages/rewrite", who, **body)

    def call(self, method: str, path: str, who: str = "acme", **kwargs: Any) -> Any:
        headers = self.auth[who] | kwargs.pop("headers", {})
        return self.client.request(method, path, headers=headers, **kwargs)

    def open(self, tracked_url: str, who: str = "acme", domain: str = "") -> token.Opened:
        domain = domain or f"click.{who}.test"
        prefix = f"https://{domain}/"
        assert tracked_url.startswith(prefix), tracked_url
        with self.ctx.sessions() as session:
            key = active_key(session, self.tenants[who])
            keys = {key.id: key_secret(self.ctx.sealer, key)}
        opened = token.open_token(tracked_url.removeprefix(prefix), keys)
        assert opened is not None, tracked_url
        return opened


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    settings = ControlSettings(
        database_url=database_url,
        click_port=0,
        master_key=MASTER_KEY,
        cname_target="edge.clickgate.test",
    )
    ctx = make_context(settings)
    upgrade(ctx.engine)
    auth, tenants = {}, {}
    with ctx.sessions.begin() as session:
        for name in ("acme", "globex"):
            tenant = create_tenant(session, ctx.sealer, name)
            add_domain(session, tenant.id, f"click.{name}.test", default=True)
            auth[name] = {"Authorization": f"Bearer {create_api_key(session, tenant.id)}"}
            tenants[name] = tenant.id
        add_domain(session, tenants["acme"], "links.acme.test")
    with TestClient(build_app(ctx, with_grpc=False)) as client:
        yield Api(client, ctx, auth, tenants)
    ctx.engine.dispose()


def test_rewrite_tracks_html_and_text_links_with_their_tokens(api: Api) -> None:
    response = api.rewrite(
        message_id="msg-1", recipient="Jane@Example.com", tags=["welcome"], html=HTML, text=TEXT
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["message_id"], body["stream"], body["domain"]) == (
        "msg-1",
        "outbound",
        "click.acme.test",
    )
    links = body["links"]
    assert [(link["index"], link["location"], link["skip_reason"]) for link in links] == [
        (0, "html", None),
        (1, "html", "scheme"),
        (2, "html", "opt_out"),
        (3, "text", None),
        (4, "text", None),
    ]
    assert body["tracked_links"] == 3
    hero = api.open(links[0]["tracked_url"])
    assert hero.url == "https://example.com/a?x=1&y=2"  # &amp; decoded exactly once
    assert hero.body.message_id == "msg-1"
    assert hero.body.tags == ("welcome", "cta:hero")  # link tags follow the message's
    assert hero.body.recipient.startswith("h:") and "jane" not in hero.body.recipient.lower()
    assert (hero.body.link_index, hero.body.location) == (0, token.LOCATION_HTML)
    text_link = api.open(links[4]["tracked_url"])
    assert text_link.url == "https://example.com/d"
    assert (text_link.body.link_index, text_link.body.location) == (4, token.LOCATION_TEXT)
    assert text_link.body.tags == ("welcome",)
    # The tracked URL is written back escaped; our markers never reach the recipient.
    assert links[0]["tracked_url"].replace("&", "&amp;") in body["html"]
    assert "data-clickgate" not in body["html"]
    assert 'href="mailto:sales@example.com"' in body["html"]
    assert body["text"].startswith(f"See {links[3]['tracked_url']}. Or (")


def test_link_tags_beyond_the_apis_limits_leave_the_link_untracked(api: Api) -> None:
    """A template's per-link tags are held to the message's limits (20 tags of at most 128
    characters, with the message's): a token that grew without bound would be a link the
    edge refuses. Such a link stays as it was, reported "tags"; the others are tracked."""
    message_tags = [f"m{n}" for n in range(16)]

    def link(n: int, tags: str) -> str:
        return f'<a href="https://example.com/{n}" data-clickgate-tags="{tags}">{n}</a>'

    html = "".join(
        [
            link(0, "a;b;c;d"),  # 20 with the message's
            link(1, "a;b;c;d;e"),  # 21
            link(2, "m0;m1;a;b;c;d;a"),  # repeats count once: 20
            link(3, "x" * 129),
            link(4, "x" * 128),
        ]
    )
    response = api.rewrite(message_id="msg-tags", tags=message_tags, html=html)
    assert response.status_code == 200, response.text
    body = response.json()
    reasons = [link["skip_reason"] for link in body["links"]]
    assert reasons == [None, "tags", None, "tags", None]
    assert api.open(body["links"][0]["tracked_url"]).body.tags == (*message_tags, *"abcd")
    assert len(api.open(body["links"][2]["tracked_url"]).body.tags) == 20
    assert '<a href="https://example.com/1">1</a>' in body["html"]  # untouched, marker gone
    assert "data-clickgate" not in body["html"]


def test_a_link_that_url_params_push_past_the_edges_limit_is_reported_too_long(
    api: Api,
) -> None:
    """Edges redirect to at most 16,384 characters. A link just under that is tracked;
    utm parameters that push it over leave it untouched, reported "too_long" rather
    than "malformed", which would send the sender looking for a typo."""
    base = "https://example.com/?q="
    fits = base + "x" * (token.MAX_URL_LEN - len(base) - len("&utm_source=news"))
    over = fits + "yy"
    text = f"{fits}\n{over}\n{base + 'z' * token.MAX_URL_LEN}\n"
    response = api.rewrite(message_id="msg-long", text=text, url_params={"utm_source": "news"})
    assert response.status_code == 200, response.text
    links = response.json()["links"]
    assert [link["skip_reason"] for link in links] == [None, "too_long", "too_long"]
    assert api.open(links[0]["tracked_url"]).url == fits + "&utm_source=news"
    assert over in response.json()["text"]


def test_first_rewrite_creates_the_default_stream_once(api: Api) -> None:
    for n in range(2):
        assert api.rewrite(message_id=f"m-{n}", text="https://example.com/").status_code == 200
    streams = api.call("GET", "/v1/streams").json()["streams"]
    assert [(s["name"], s["default"], s["track_links"]) for s in streams] == [
        ("outbound", True, "HtmlAndText")
    ]
    assert api.call("GET", "/v1/streams", "globex").json()["streams"] == []


def test_concurrent_first_rewrites_share_one_default_stream(api: Api) -> None:
    def one(n: int) -> str:
        req = RewriteRequest(message_id=f"c-{n}", text="https://example.com/")
        return rewrite(api.ctx.sessions, api.ctx.settings, api.tenants["globex"], req).stream

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(8))) == {"outbound"}
    streams = api.call("GET", "/v1/streams", "globex").json()["streams"]
    assert [(s["name"], s["default"]) for s in streams] == [("outbound", True)]


def test_an_existing_outbound_stream_becomes_the_default(api: Api) -> None:
    api.post("/v1/streams", name="outbound", track_links="TextOnly")
    body = api.rewrite(html='<a href="https://e.com/">x</a>').json()
    assert body["stream"] == "outbound" and body["links"][0]["skip_reason"] == "disabled"
    assert api.call("GET", "/v1/streams/outbound").json()["default"] is True


@pytest.mark.parametrize(
    ("mode", "html_reason", "text_reason"),
    [
        ("HtmlAndText", None, None),
        ("HtmlOnly", None, "disabled"),
        ("TextOnly", "disabled", None),
        ("None", "disabled", "disabled"),
    ],
)
def test_track_links_modes_as_postmark_names_them(
    api: Api, mode: str, html_reason: str | None, text_reason: str | None
) -> None:
    body = api.rewrite(
        track_links=mode, html='<a href="https://example.com/h">x</a>', text="https://e.com/t"
    ).json()
    assert [link["skip_reason"] for link in body["links"]] == [html_reason, text_reason]
    assert body["tracked_links"] == [html_reason, text_reason].count(None)
    if html_reason:
        assert body["html"] == '<a href="https://example.com/h">x</a>'


def test_a_named_stream_supplies_domain_mode_and_params(api: Api) -> None:
    created = api.post(
        "/v1/streams",
        name="Broadcast",
        domain="LINKS.acme.test",
        track_links="HtmlOnly",
        url_params={"utm_source": "mail", "utm_medium": "email"},
        prefix_www=True,
        max_links=1,
    )
    assert created.status_code == 201, created.text
    stream = created.json()
    assert (stream["name"], stream["domain"], stream["default"]) == (
        "broadcast",
        "links.acme.test",
        False,
    )
    html = '<a href="www.example.com/x?utm_medium=keep">1</a><a href="https://e.com/2">2</a>'
    body = api.rewrite(
        stream="broadcast", html=html, text="https://e.com/t", url_params={"utm_campaign": "c"}
    ).json()
    assert (body["stream"], body["domain"]) == ("broadcast", "links.acme.test")
    assert [link["skip_reason"] for link in body["links"]] == [None, "limit", "disabled"]
    opened = api.open(body["links"][0]["tracked_url"], domain="links.acme.test")
    # Parameters already present win; the stream's and the request's are merged.
    assert opened.url == ("http://www.example.com/x?utm_medium=keep&utm_source=mail&utm_campaign=c")
    # The request's mode and domain win over the stream's.
    body = api.rewrite(
        stream="broadcast", track_links="TextOnly", domain="click.acme.test", text="https://e.com/"
    ).json()
    assert body["domain"] == "click.acme.test" and body["tracked_links"] == 1


def test_links_to_any_click_domain_are_never_wrapped_twice(api: Api) -> None:
    first = api.rewrite(text="https://example.com/").json()["links"][0]["tracked_url"]
    text = f"{first} https://click.globex.test/x https://CLICK.acme.test:8443/y"
    body = api.rewrite(message_id="m-2", text=text).json()
    assert [link["skip_reason"] for link in body["links"]] == ["already_tracked"] * 3
    assert body["text"] == text


def test_the_message_is_recorded_and_a_second_rewrite_updates_it(api: Api) -> None:
    api.rewrite(message_id="m-rec", tags=["a"], text="https://e.com/1 https://e.com/2")
    api.rewrite("globex", message_id="m-rec", text="x")  # another tenant's, separate
    with api.ctx.sessions() as session:
        (row,) = session.scalars(
            select(Message).where(Message.tenant_id == api.tenants["acme"])
        ).all()
        first_created = row.created_ms
    assert (row.message_id, row.stream, row.tags, row.tracked_links) == (
        "m-rec",
        "outbound",
        ["a"],
        2,
    )
    api.post("/v1/streams", name="bulk")
    api.rewrite(message_id="m-rec", stream="bulk", tags=["b"], html="<p>none</p>")
    with api.ctx.sessions() as session:
        rows = session.scalars(select(Message).order_by(Message.tenant_id)).all()
    assert [(r.tenant_id, r.stream, r.tags, r.tracked_links) for r in rows] == [
        (api.tenants["acme"], "bulk", ["b"], 0),
        (api.tenants["globex"], "outbound", [], 0),
    ]
    assert rows[0].created_ms == first_created and rows[0].updated_ms >= first_created


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": "x", "track_links": "All"}, 400, "bad_request"),
        ({"text": "x", "message_id": ""}, 400, "bad_request"),
        ({"text": "x", "message_id": None}, 400, "bad_request"),
        ({"text": "x", "tags": ["t"] * 21}, 400, "bad_request"),
        ({"text": "x", "tags": ["t" * 129]}, 400, "bad_request"),
        ({"text": "x", "url_params": {"": "v"}}, 400, "bad_request"),
        ({"text": "x", "html_body": "y"}, 400, "bad_request"),
        ({}, 400, "bad_request"),
        ({"text": "x", "stream": "nope"}, 404, "not_found"),
        ({"text": "x", "domain": "click.globex.test"}, 404, "not_found"),
        ({"text": "x", "domain": "unknown.test"}, 404, "not_found"),
        ({"text": "é" * (3 * 1024 * 1024)}, 413, "too_large"),
        ({"html": "x" * (5 * 1024 * 1024 + 1)}, 413, "too_large"),
    ],
)
def test_bad_rewrites_get_json_errors(
    api: Api, body: dict[str, Any], status: int, code: str
) -> None:
    response = api.rewrite(**body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text


def test_a_request_over_the_body_limit_is_413(api: Api) -> None:
    raw = b'{"message_id": "m", "text": "' + b"x" * (33 * 1024 * 1024) + b'"}'
    response = api.call(
        "POST",
        "/v1/messages/rewrite",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_an_unverified_or_removed_domain_is_refused_not_used(api: Api) -> None:
    with api.ctx.sessions.begin() as session:
        register_domain(session, api.tenants["acme"], "go.acme.example")
    body = api.rewrite(domain="go.acme.example", text="https://e.com/")
    assert body.status_code == 409 and body.json()["error"]["code"] == "domain_not_ready"
    api.post("/v1/streams", name="promo", domain="links.acme.test")
    with api.ctx.sessions.begin() as session:
        session.delete(session.scalar(select(Domain).where(Domain.name == "links.acme.test")))
    body = api.rewrite(stream="promo", text="https://e.com/")
    assert body.status_code == 409 and "links.acme.test" in body.json()["error"]["message"]


def test_streams_crud(api: Api) -> None:
    assert api.post("/v1/streams", name="news", url_params={"utm_source": "n"}).status_code == 201
    assert api.post("/v1/streams", name="News").status_code == 409
    for bad in ({"name": "no spaces"}, {"name": ""}, {"name": "x", "track_links": "Html"},
                {"name": "x", "max_links": -1}, {"name": "x", "extra": 1}):  # fmt: skip
        response = api.call("POST", "/v1/streams", json=bad)
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["error"]["code"] == "bad_request"
    missing = api.post("/v1/streams", name="x", domain="click.globex.test")
    assert missing.status_code == 404
    patched = api.call(
        "PATCH", "/v1/streams/news", json={"track_links": "None", "domain": "links.acme.test"}
    )
    assert patched.status_code == 200, patched.text
    got = api.call("GET", "/v1/streams/news").json()
    assert (got["track_links"], got["domain"], got["url_params"]) == (
        "None",
        "links.acme.test",
        {"utm_source": "n"},
    )
    cleared = api.call("PATCH", "/v1/streams/news", json={"domain": None}).json()
    assert cleared["domain"] is None and cleared["track_links"] == "None"
    assert api.call("PATCH", "/v1/streams/news", json={"default": True}).json()["default"]
    assert api.call("DELETE", "/v1/streams/news").status_code == 409  # the default
    body = api.rewrite(text="https://e.com/").json()  # names no stream: the default
    assert body["stream"] == "news" and body["links"][0]["skip_reason"] == "disabled"
    api.post("/v1/streams", name="other", default=True)
    assert api.call("PATCH", "/v1/streams/other", json={"default": False}).status_code == 409
    names = [(s["name"], s["default"]) for s in api.call("GET", "/v1/streams").json()["streams"]]
    assert names == [("news", False), ("other", True)]
    assert api.call("DELETE", "/v1/streams/news").status_code == 204
    assert api.call("GET", "/v1/streams/news").status_code == 404
    assert api.call("PATCH", "/v1/streams/news", json={}).status_code == 404


def test_one_tenant_never_sees_or_uses_anothers_streams(api: Api) -> None:
    api.post("/v1/streams", name="secret", track_links="None")
    for method, path, kwargs in (
        ("GET", "/v1/streams/secret", {}),
        ("PATCH", "/v1/streams/secret", {"json": {"track_links": "HtmlOnly"}}),
        ("DELETE", "/v1/streams/secret", {}),
    ):
        response = api.call(method, path, "globex", **kwargs)
        assert response.status_code == 404, (method, response.text)
    assert api.rewrite("globex", stream="secret", text="x").status_code == 404
    assert api.post("/v1/streams", "globex", name="secret").status_code == 201  # own namespace
    assert api.call("GET", "/v1/streams/secret").json()["track_links"] == "None"


def test_openapi_lists_rewrite_and_streams(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/v1/messages/rewrite"]
    assert {"get", "patch", "delete"} <= set(paths["/v1/streams/{name}"])
    assert {"get", "post"} <= set(paths["/v1/streams"])
