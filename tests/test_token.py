"""The token wire format: golden vectors, tamper resistance, exact round trips."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge import token

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

# Pinned wire format: if one of these changes, links already in inboxes break.
GOLDEN = [
    (
        7,
        "https://example.com/path?a=1&b=2#frag",
        {
            "message_id": "msg-1",
            "link_index": 3,
            "tags": ("campaign:fall",),
            "sent_at": 1700000000,
            "recipient": "h:abc",
        },
        "example.com/BgeYA7IvcGF0aD9hPTEmYj0yI2ZyYWelbXNnLTEDAJGtY2FtcGFpZ246ZmFsbM5lU_EApWg6YWJjAACz"
        "mKsIbyc5T7JT8OZdZCwn",
    ),
    (
        1,
        "http://Example.COM:8080/",
        {},
        "Example.COM:8080/BgGYAqEvoAAAkACgAABYoWeUT_z7zdC8ixek-kbZ",
    ),
    (
        300,
        "HTTPS://user@example.com/x",
        {"location": token.LOCATION_TEXT},
        "BKwCmAC6SFRUUFM6Ly91c2VyQGV4YW1wbGUuY29tL3igAAGQAKBo7A-ndUQ_dV9p1fZ3oZWt",
    ),
    (
        2,
        "https://xn--bcher-kva.example/%E2%82%AC?q=%20",
        {"message_id": "m"},
        "xn--bcher-kva.example/BQKYA7AvJUUyJTgyJUFDP3E9JTIwoW0AAJAAoACb7SOBwlAuf_dxeaAnxnnr",
    ),
]


@pytest.mark.parametrize(("key_id", "url", "fields", "expected"), GOLDEN)
def test_golden_vectors_mint_and_open(
    key_id: int, url: str, fields: dict[str, object], expected: str
) -> None:
    assert token.mint(key_id, KEY, url, **fields) == expected  # type: ignore[arg-type]
    opened = token.open_token(expected, {key_id: KEY})
    assert opened is not None
    assert opened.url == url
    assert opened.key_id == key_id
    for name, value in fields.items():
        assert getattr(opened.body, name) == value


def test_readable_host_is_in_the_path_and_url_stays_short() -> None:
    url = "https://shop.example.com/products/winter-boots?size=42&color=black"
    path = token.mint(1, KEY, url, message_id="0a1b2c3d", link_index=4)
    assert path.startswith("shop.example.com/")
    assert len(path) < len(url) + 60


def test_every_single_bit_flip_is_rejected() -> None:
    path = GOLDEN[0][3]
    netloc, _, encoded = path.partition("/")
    raw = binascii.a2b_base64(encoded.replace("-", "+").replace("_", "/"))
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        text = binascii.b2a_base64(bytes(flipped), newline=False).decode()
        text = text.replace("+", "-").replace("/", "_")
        assert token.open_token(f"{netloc}/{text}", {7: KEY}) is None, bit


def test_every_character_substitution_is_rejected() -> None:
    path = GOLDEN[1][3]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, ch in enumerate(path):
        replacement = "B" if ch == "A" else "A"
        if ch in alphabet or ch.isalnum():
            changed = path[:i] + replacement + path[i + 1 :]
            assert token.open_token(changed, {1: KEY}) is None, i


def test_netloc_cannot_be_swapped_or_dropped() -> None:
    path = token.mint(1, KEY, "https://good.example/login")
    _, _, encoded = path.partition("/")
    assert token.open_token(f"evil.example/{encoded}", {1: KEY}) is None
    assert token.open_token(encoded, {1: KEY}) is None


def test_wrong_or_unknown_key_is_rejected() -> None:
    path = token.mint(1, KEY, "https://example.com/")
    assert token.open_token(path, {1: OTHER_KEY}) is None
    assert token.open_token(path, {2: KEY}) is None


@pytest.mark.parametrize(
    "garbage",
    ["", "/", "x", "example.com/", "example.com/!!!!", "a/b/c", "A" * 5000, "é/ü", "AAAA"],
)
def test_garbage_is_rejected_without_raising(garbage: str) -> None:
    assert token.open_token(garbage, {1: KEY}) is None


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "mailto:a@example.com",
        "ftp://example.com/",
        "https://",
        "https://exa mple.com/",
        "https://example.com/\r\nSet-Cookie: x",
        "https://example.com/\x00",
        "https://exämple.com/",
        "//example.com/",
        "https://example.com/" + "a" * token.MAX_URL_LEN,
    ],
)
def test_unsafe_destinations_cannot_be_minted(url: str) -> None:
    with pytest.raises(token.TokenError):
        token.mint(1, KEY, url)


_url_chars = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=200
)


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "Https"]),
    host=st.from_regex(r"[a-z0-9][a-z0-9.-]{0,30}(:[0-9]{1,5})?", fullmatch=True),
    rest=_url_chars.map(lambda s: "/" + s),
    message_id=st.text(max_size=40),
    tags=st.lists(st.text(max_size=20), max_size=4).map(tuple),
    location=st.sampled_from([token.LOCATION_HTML, token.LOCATION_TEXT]),
)
def test_round_trip_gives_back_exact_destination(
    scheme: str,
    host: str,
    rest: str,
    message_id: str,
    tags: tuple[str, ...],
    location: int,
) -> None:
    url = f"{scheme}://{host}{rest}"
    path = token.mint(9, KEY, url, message_id=message_id, tags=tags, location=location)
    opened = token.open_token(path, {9: KEY})
    assert opened is not None
    assert opened.url == url
    assert opened.body.message_id == message_id
    assert opened.body.tags == tags
    assert opened.body.location == location


def test_location_header_is_the_destination_as_bytes() -> None:
    """The edge builds Location with token.location; it must be destination() exactly."""
    for key_id, url, _fields, path in GOLDEN:
        opened = token.open_token(path, {key_id: KEY})
        assert opened is not None
        assert token.location(opened.netloc, opened.body) == url.encode() == opened.url.encode()
    for url in (
        "http://b.example:8080/?q",
        "https://xn--bcher-kva.example/%C3%A4?x=1#f",
        "https://[2001:db8::1]:8443/p",
    ):
        opened = token.open_token(token.mint(7, KEY, url), {7: KEY})
        assert opened is not None
        assert token.location(opened.netloc, opened.body) == url.encode()
