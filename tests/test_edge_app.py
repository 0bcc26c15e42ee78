"""The edge's ASGI app called directly: redirects, refusals, probes, journaling."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.enrich.botagents import all_patterns, compile_matcher
from edge import token
from edge.clientip import ClientIP
from edge.config import TenantRevocations
from edge.record import decode_record
from tests.edgekit import (
    KEY,
    KEY_ID,
    OTHER_KEY,
    OTHER_KEY_ID,
    app_for,
    call,
    make_state,
    reader_for,
)

URL = "https://shop.example/a?b=1&c=%20d#top"


def test_valid_link_redirects_with_exact_location_and_is_journaled(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    app = app_for(state)
    path = "/" + token.mint(KEY_ID, KEY, URL, message_id="m1", link_index=2)
    ua = b"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
    response = call(app, path, headers=[(b"user-agent", ua), (b"accept-language", b"de")])
    assert response.status == 302
    assert response.headers["location"] == URL
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-length"] == "0"
    assert response.body == b""
    batch = reader_for(state).read_batch(10)
    assert len(batch.records) == 1
    record = decode_record(batch.records[0])
    assert record.user_agent == ua
    assert record.accept_language == b"de"
    assert record.ip == "203.0.113.9"
    assert record.method == b"GET"
    assert record.host == b"click.example"
    assert len(record.click_id) == 16
    key_id, body = token.decode_raw(record.netloc, record.token)
    assert (key_id, body.message_id, body.link_index) == (KEY_ID, "m1", 2)


def test_head_redirects_too(tmp_path: Path) -> None:
    app = app_for(make_state(tmp_path))
    response = call(app, "/" + token.mint(KEY_ID, KEY, URL), method="HEAD")
    assert response.status == 302
    assert response.headers["location"] == URL


def test_host_with_port_and_upper_case_matches_domain(tmp_path: Path) -> None:
    app = app_for(make_state(tmp_path))
    response = call(app, "/" + token.mint(KEY_ID, KEY, URL), host="Click.Example:8080")
    assert response.status == 302


@pytest.mark.parametrize("host", ["click.example.", "Click.Example.:8080"])
def test_a_fully_qualified_host_with_its_trailing_dot_matches_domain(
    tmp_path: Path, host: str
) -> None:
    state = make_state(tmp_path)
    response = call(app_for(state), "/" + token.mint(KEY_ID, KEY, URL), host=host)
    assert (response.status, response.headers["location"]) == (302, URL)
    assert state.metrics.journaled == 1


@pytest.mark.parametrize(
    ("path", "host"),
    [
        ("/nothing-here", "click.example"),
        ("/", "click.example"),
        ("/" + token.mint(KEY_ID, KEY, URL), "unknown.example"),  # unknown host
        ("/" + token.mint(KEY_ID, KEY, URL), "other.example"),  # another tenant's domain
        ("/" + token.mint(OTHER_KEY_ID, OTHER_KEY, URL), "click.example"),  # foreign token
        ("/" + token.mint(KEY_ID, KEY, URL)[:-1] + "A", "click.example"),  # tampered
        ("/" + token.mint(99, KEY, URL), "click.example"),  # unknown key id
    ],
)
def test_invalid_links_get_a_404_page_that_reveals_nothing(
    tmp_path: Path, path: str, host: str
) -> None:
    state = make_state(tmp_path)
    response = call(app_for(state), path, host=host)
    assert response.status == 404
    assert "location" not in response.headers
    assert b"not valid" in response.body
    assert state.metrics.journaled == 0


@pytest.mark.parametrize(
    ("host", "extra"),
    [
        ("", []),  # no Host: Granian puts an empty one in the scope
        ("click.example", [(b"host", b"click.example")]),  # two, even the same
        ("click.example", [(b"host", b"other.example")]),
        ("other.example", [(b"host", b"click.example")]),  # the last one is ours
        ("click.example/x", []),
        ("click example", []),
        ("user@click.example", []),
        ("click.example:80:80", []),
        ("[::1", []),
    ],
)
def test_a_request_without_exactly_one_valid_host_gets_400(
    tmp_path: Path, host: str, extra: list[tuple[bytes, bytes]]
) -> None:
    # RFC 9112 3.2: no Host, more than one, or an invalid value is a 400, never a
    # redirect or a click, even with a valid token of the domain the last Host names.
    state = make_state(tmp_path)
    app = app_for(state)
    path = "/" + token.mint(KEY_ID, KEY, URL)
    response = call(app, path, host=host, headers=extra)
    assert response.status == 400
    assert "location" not in response.headers
    assert b"Host" in response.body
    head = call(app, path, method="HEAD", host=host, headers=extra)
    assert (head.status, head.body) == (400, b"")
    assert state.metrics.journaled == 0
    assert state.metrics.served[400] == 2


def test_valid_host_forms_are_not_refused(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    app = app_for(state)
    path = "/" + token.mint(KEY_ID, KEY, URL)
    # Other headers may repeat (proxies add X-Forwarded-For lines); only Host may not.
    twice = [(b"accept-language", b"de"), (b"accept-language", b"en")]
    assert call(app, path, host="click.example:443", headers=twice).status == 302
    for host in ("[2001:db8::1]:8080", "192.0.2.1", "xn--bcher-kva.example", "a.example:"):
        assert call(app, path, host=host).status == 404  # well-formed, not our domain
    assert call(app, "/healthz", host="").status == 200  # health checks send no Host
    assert state.metrics.served[400] == 0


def test_other_methods_get_405_never_a_redirect(tmp_path: Path) -> None:
    app = app_for(make_state(tmp_path))
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        response = call(app, "/" + token.mint(KEY_ID, KEY, URL), method=method)
        assert response.status == 405
        assert response.headers["allow"] == "GET, HEAD"


def test_the_longest_link_the_api_mints_works_and_longer_paths_are_refused(
    tmp_path: Path,
) -> None:
    longest = "https://example.com/?q=" + "x" * (token.MAX_URL_LEN - 23)
    wide = "\U0001f600"  # four bytes of UTF-8 for one character of the API's limits
    path = "/" + token.mint(
        KEY_ID, KEY, longest, message_id=wide * 200, tags=(wide * 128,) * 20, recipient="r" * 64
    )  # the limits of POST /v1/links and /v1/messages/rewrite
    assert len(longest) == token.MAX_URL_LEN
    app = app_for(make_state(tmp_path))  # the default CLICKGATE_EDGE_MAX_PATH
    assert call(app, path).headers["location"] == longest
    shorter = app_for(make_state(tmp_path / "short", max_path=len(path) - 2))
    assert call(shorter, path).status == 404


def test_probes(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    app = app_for(state)
    assert call(app, "/healthz").status == 200
    assert call(app, "/readyz").status == 200
    state.shutting_down = True
    assert call(app, "/readyz").status == 503
    assert call(app, "/healthz").status == 200


def test_not_ready_without_config(tmp_path: Path) -> None:
    from edge.settings import EdgeSettings
    from edge.state import EdgeState

    app = app_for(EdgeState(EdgeSettings(data_dir=str(tmp_path))))
    assert call(app, "/readyz").status == 503
    assert call(app, "/" + token.mint(KEY_ID, KEY, URL)).status == 404


@pytest.mark.parametrize("host", ["click.example..", "click.example..:8080", "."])
def test_a_host_with_an_empty_label_names_no_click_domain(tmp_path: Path, host: str) -> None:
    state = make_state(tmp_path)
    response = call(app_for(state), "/" + token.mint(KEY_ID, KEY, URL), host=host)
    assert response.status in (400, 404)
    assert state.metrics.journaled == 0


def test_client_ip_from_trusted_proxy_only(tmp_path: Path) -> None:
    state = make_state(tmp_path, trusted_proxies=["127.0.0.0/8"])
    app = app_for(state)
    path = "/" + token.mint(KEY_ID, KEY, URL)
    xff = [(b"x-forwarded-for", b"198.51.100.7, 127.0.0.1")]
    call(app, path, headers=xff, client=("127.0.0.1", 1))
    call(app, path, headers=xff, client=("192.0.2.1", 1))  # not a trusted proxy
    call(app, path, headers=xff, client=("::ffff:127.0.0.1", 1))  # the proxy, on a "::" bind
    ips = [decode_record(r).ip for r in reader_for(state).read_batch(10).records]
    assert ips == ["198.51.100.7", "192.0.2.1", "198.51.100.7"]
    mapped_range = ClientIP(["::ffff:127.0.0.0/104"])  # the same proxies, written the IPv6 way
    assert mapped_range.is_trusted("::ffff:127.0.0.1") and not mapped_range.is_trusted("::1")


def test_client_ip_reads_every_forwarded_for_line_and_refuses_zones(tmp_path: Path) -> None:
    """Two proxy tiers, each adding its own X-Forwarded-For line, give one list (RFC 9110
    5.3); an IPv6 address with a zone names no client, so the peer stands in."""
    state = make_state(tmp_path, trusted_proxies=["127.0.0.0/8", "10.0.0.0/8"])
    app = app_for(state)
    path = "/" + token.mint(KEY_ID, KEY, URL)
    two_lines = [(b"x-forwarded-for", b"198.51.100.7"), (b"x-forwarded-for", b"10.1.2.3")]
    for headers in (
        two_lines,
        [(b"x-forwarded-for", b"203.0.113.9, 198.51.100.7"), (b"x-forwarded-for", b"10.1.2.3")],
        [(b"x-forwarded-for", b"10.9.9.9"), (b"x-forwarded-for", b"198.51.100.7, 10.1.2.3")],
        [(b"x-forwarded-for", b"2001:db8::1%eth0")],
        [(b"x-forwarded-for", b"fe80::1%" + b"z" * 3000 + b", 10.1.2.3")],
        # Empty list elements and an empty last line are no hop (RFC 9110 5.6.1).
        [(b"x-forwarded-for", b"198.51.100.7"), (b"x-forwarded-for", b"")],
        [(b"x-forwarded-for", b"198.51.100.7, , 10.1.2.3,")],
    ):
        call(app, path, headers=headers, client=("127.0.0.1", 1))
    ips = [decode_record(r).ip for r in reader_for(state).read_batch(10).records]
    assert ips == [
        *["198.51.100.7"] * 3,
        *["127.0.0.1"] * 2,
        *["198.51.100.7"] * 2,
    ]


def test_full_journal_still_redirects_and_counts_the_drop(tmp_path: Path) -> None:
    state = make_state(tmp_path, journal_segment_bytes=4096, journal_max_bytes=4096)
    app = app_for(state)
    path = "/" + token.mint(KEY_ID, KEY, URL)
    statuses = {call(app, path).status for _ in range(100)}
    assert statuses == {302}
    assert state.metrics.dropped["journal_full"] > 0
    assert state.metrics.journaled + state.metrics.dropped["journal_full"] == 100


OPEN_REDIRECT_CORPUS = [
    "//evil.example",
    "//evil.example/%2f..",
    "/\\evil.example",
    "/https://evil.example",
    "/http:/evil.example",
    "/evil.example/",
    "/evil.example/AAAA",
    "/%0d%0aLocation:%20https://evil.example",
    "/\r\nLocation: https://evil.example",
    "/example.com/" + "A" * 64,
    "/./example.com",
    "/..%2f..%2fevil",
    "/?url=https://evil.example",
    "/redirect?to=https://evil.example",
    "/javascript:alert(1)",
    "/%00",
    "/" + "\x00" * 10,
]


@pytest.mark.parametrize("path", OPEN_REDIRECT_CORPUS)
def test_open_redirect_corpus_never_redirects(tmp_path: Path, path: str) -> None:
    app = app_for(make_state(tmp_path))
    for method in ("GET", "HEAD"):
        response = call(app, path, method=method)
        assert not 300 <= response.status < 400
        assert "location" not in response.headers


@settings(max_examples=400, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_no_path_without_a_valid_token_redirects(
    tmp_path_factory: pytest.TempPathFactory, path: str
) -> None:
    app = app_for(make_state(tmp_path_factory.mktemp("fuzz")))
    response = call(app, "/" + path)
    assert not 300 <= response.status < 400


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=200))
def test_location_is_always_a_safe_http_url(rest: str) -> None:
    url = "https://example.com/" + rest
    path = token.mint(KEY_ID, KEY, url)
    opened = token.open_token(path, {KEY_ID: KEY})
    assert opened is not None
    location = opened.url
    assert location == url
    assert not any(c in location for c in "\r\n\x00 ")
    assert location.startswith(("http://", "https://"))


@pytest.mark.parametrize(
    ("url", "blocked"),
    [
        ("https://evil.example/x", True),
        ("https://EVIL.example:8443/x", True),
        ("https://evil.example./x", True),  # the same host to a browser
        ("https://evil%2Eexample/x", True),  # browsers decode the host
        ("https://evil.example\\@good.example/x", True),  # "\" ends the authority
        ("https://user@evil.example/x", True),
        ("https://good.example/evil.example", False),
        ("https://[::1/x", False),  # unparseable to urlsplit: a plain answer, not a 500
        ("https://[2001:db8::1]:8443/x", False),
    ],
)
def test_a_host_revocation_matches_the_host_a_browser_would_visit(url: str, blocked: bool) -> None:
    revocations = TenantRevocations()
    revocations.hosts.add("evil.example")
    opened = token.open_token(token.mint(KEY_ID, KEY, url), {KEY_ID: KEY})
    assert opened is not None
    assert revocations.blocks(opened) is blocked


@pytest.mark.parametrize(
    "url",
    ["http://[::1]/x", "http://[0:0::1]:8080/x", "https://[0000::0001]/", "http://u@[::01]/"],
)
def test_every_spelling_of_a_revoked_ipv6_address_is_blocked(url: str) -> None:
    revocations = TenantRevocations()
    revocations.hosts.add("[::1]")  # as control.revocations stores it
    opened = token.open_token(token.mint(KEY_ID, KEY, url), {KEY_ID: KEY})
    assert opened is not None
    assert revocations.blocks(opened)


def test_a_repeated_user_agent_is_recorded_whole(tmp_path: Path) -> None:
    """A scanner's name in the first User-Agent line still reaches bot detection."""
    state = make_state(tmp_path)
    app = app_for(state)
    path = "/" + token.mint(KEY_ID, KEY, URL, message_id="m1")
    browser = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36"
    headers = [(b"user-agent", b"Barracuda Sentinel (EE)"), (b"user-agent", browser)]
    assert call(app, path, headers=headers).status == 302
    assert call(app, path, headers=[(b"user-agent", browser)]).status == 302
    first, second = (decode_record(r) for r in reader_for(state).read_batch(10).records)
    assert first.user_agent == b"Barracuda Sentinel (EE), " + browser
    assert second.user_agent == browser
    is_bot = compile_matcher(all_patterns())
    assert is_bot(first.user_agent.decode()) and not is_bot(second.user_agent.decode())
