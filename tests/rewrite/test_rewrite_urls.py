"""The plain-URL fast path never decides a link differently from check_link."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.rewrite.urls import Destination, check_link, plain_http_url

# Characters around every rule check_link has: case, ports, userinfo, IPv4/IPv6 hosts,
# trailing dots, percent-escapes, placeholders, brackets, pipes, spaces, non-ASCII.
_PIECES = st.sampled_from(
    [
        "http://", "https://", "HTTP://", "a", "Z", "0", "9", "x", "0x", ".", "-", "_",
        "/", "?", "#", "&", "=", ":", "@", "%", "%2F", "%zz", "[", "]", "|", "*", "{",
        "}", "%%", "[[", "]]", "*|", "|*", "{{", "}}", " ", "\u00e9", "com", "1.2.3.4",
        "256", "[::1]", ":8080", ":99999", "~", "!", "$", "'", "(", ")", "+", ",", ";",
        "$(", ")$", "~~", "@X@", "$x$", "%X%", "=[x]",
    ]
)  # fmt: skip
_NOISY = st.builds("".join, st.lists(_PIECES, max_size=14)).map(
    lambda s: s if s.startswith(("http", "HTTP")) else "https://" + s
)
# Mostly plain links, now and then with one piece of the above spliced in.
_LABEL = st.text("abcxyz019_-", min_size=1, max_size=5)
_PLAIN = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https"]),
    st.lists(_LABEL, min_size=1, max_size=4).map(".".join),
    st.sampled_from(["", "/", "/p/a-t_h.html", "/x?a=1&b=%2F", "?q=1#f", "#frag"]),
    st.one_of(st.just(""), _PIECES),
)
LINKS = st.one_of(_NOISY, _PLAIN)


def _agrees(link: str) -> None:
    plain = plain_http_url(link)
    if plain is None:
        return
    checked = check_link(link, False)
    assert isinstance(checked, Destination), (link, checked)
    assert checked.url == link
    assert checked.host == plain.group(1)


@settings(max_examples=3000, deadline=None)
@given(link=LINKS)
def test_whatever_the_fast_path_accepts_check_link_accepts_alike(link: str) -> None:
    _agrees(link)


@pytest.mark.parametrize(
    ("link", "plain"),
    [
        ("https://shop.example/o/1?a=1&b=2#top", True),
        ("http://a-b_c.example.com/", True),
        ("https://shop.example", True),
        ("https://Shop.example/", False),  # upper case host: the long way
        ("https://shop.example:443/", False),  # port
        ("https://user@shop.example/", False),  # userinfo
        ("https://shop.example./", False),  # trailing dot
        ("https://1.2.3.4/", False),  # IPv4
        ("https://shop.0x1f/", False),  # last label a number
        ("https://shop.example/?ids=1|2", False),  # pipe (placeholder "*|x|*" needs one)
        ("https://shop.example/?f[a]=1", False),  # brackets
        ("https://shop.example/%zz", False),  # bad escape
        ("https://shop.example/caf\u00e9", False),  # non-ASCII
    ],
)
def test_the_fast_path_takes_only_plain_links(link: str, plain: bool) -> None:
    assert (plain_http_url(link) is not None) is plain
    _agrees(link)


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://e.com/?e=*%7CEMAIL%7C*", "placeholder"),  # Mailchimp, as editors encode it
        ("https://e.com/?e=%7B%7B%20email%20%7D%7D", "placeholder"),
        ("https://e.com/u/%7b%25%20id%20%25%7d", "placeholder"),
        ("https://e.com/?n=%5B%5Bname%5D%5D", "placeholder"),
        ("https://e.com/?j=%7B%22a%22%3A%7B%7D%7D", None),  # encoded JSON, no placeholder
        ("https://e.com/?q=50%25", None),
    ],
)
def test_percent_encoded_placeholders_are_left_alone(link: str, expected: str | None) -> None:
    checked = check_link(link, False)
    assert (checked if isinstance(checked, str) else None) == expected
    assert plain_http_url(link) is None  # the fast path leaves such escapes to check_link
    _agrees(link)


@pytest.mark.parametrize(
    "link",
    [
        "https://e.com/?e=$(EMAIL_ADDRESS_)$",  # Oracle Responsys
        "https://e.com/?e=${EMAIL_ADDRESS_}",  # Responsys RPL, FreeMarker
        "https://e.com/?e=$[LI:EMAIL]$",  # Zoho Campaigns
        "https://e.com/?e=~~eloqua..type--emailfield..syntax--EmailAddress~~",  # Eloqua
        "https://e.com/?e=<%= recipient.email %>",  # Adobe Campaign
        "https://e.com/?e=@EMAIL@",  # dotdigital
        "https://e.com/?e=$email$",  # Emarsys
        "https://e.com/?e=%EMAIL%",  # ActiveCampaign
        "https://e.com/?e=%recipient.email%",  # Mailgun recipient variables
        "https://e.com/?e={contactfield=email}",  # Mautic
        "https://e.com/?e={!email}",  # AWeber
        "https://e.com/?e=[email]",  # Campaign Monitor, Sendy
        "https://e.com/u/[firstname,fallback=there]",
    ],
)
def test_other_senders_merge_tags_are_placeholders(link: str) -> None:
    assert check_link(link, False) == "placeholder"
    assert plain_http_url(link) is None
    _agrees(link)


@pytest.mark.parametrize(
    "link",
    [
        "https://medium.com/@user/a-post",
        "https://social.example/@user@other.example",
        "https://e.com/caf%C3%A9%20cr%C3%A8me",  # escapes are not "%NAME%"
        "https://e.com/odata?$filter=a&$top=10",
        "https://e.com/~user/index.html",
        "https://e.com/?filter[status]=open",
        "https://e.com/price/$5",
    ],
)
def test_urls_that_only_look_like_merge_tags_are_tracked(link: str) -> None:
    assert isinstance(check_link(link, False), Destination)
    _agrees(link)
