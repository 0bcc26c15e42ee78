"""TokenMinter: the per-message fast path mints exactly what the plain definition says."""

from __future__ import annotations

import base64

import msgspec
import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from edge import token

KEY = bytes(range(32))
_encode = msgspec.msgpack.Encoder().encode


def reference_mint(
    key_id: int, url: str, message_id: str, index: int, location: int, tags: tuple[str, ...]
) -> str:
    """The wire format written out plainly (module docstring of edge.token), no caching."""
    token.check_destination(url)
    scheme, _, after = url.partition("://")
    netloc = after.split("/")[0].split("?")[0].split("#")[0]
    compact = scheme in ("http", "https") and token._READABLE_NETLOC.fullmatch(netloc)
    if compact:
        flags = token.FLAG_NETLOC_IN_PATH | (token.FLAG_HTTPS if scheme == "https" else 0)
        rest = after[len(netloc) :]
    else:
        netloc, flags, rest = "", 0, url
    sent_at = 1_700_000_000
    while True:
        body = token.Body(flags, rest, message_id, index, location, tags, sent_at, "h:r")
        unpadded = bytes([token.VERSION << 2]) + token._leb128(key_id) + _encode(body)
        pad = -(len(unpadded) + token.TAG_LEN) % 3
        signed = bytes([token.VERSION << 2 | pad]) + unpadded[1:] + bytes(pad)
        tag = blake3(netloc.encode() + b"\n" + signed, key=KEY).digest(token.TAG_LEN)
        text = base64.urlsafe_b64encode(signed + tag).decode()  # no "=": len is a multiple of 3
        # A token must not end in what linkifiers cut off: a second later.
        if text[-1] not in "-_":
            return f"{netloc}/{text}" if netloc else text
        sent_at += 1


def _with_one_char(text: str, char: str | None, at: int) -> str:
    return text if char is None else text[:at] + char + text[at:]


HOSTS = st.sampled_from(
    [
        "example.com",
        "Shop.Example.COM:8443",
        "user@example.com",
        "xn--bcher-kva.example",
        "[::1]:8080",
        "a" * 260 + ".com",  # too long to show in clear
        "host_with_underscore.example",
        "-lead.example",
    ]
)
URLS = st.builds(
    "{}://{}{}".format,
    st.sampled_from(["http", "https", "HTTPS", "Http"]),
    HOSTS,
    st.builds(
        _with_one_char,
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60),
        # Now and then a character both must refuse: space, control, DEL, non-ASCII.
        st.one_of(st.none(), st.sampled_from([" ", "\t", "\x00", "\x7f", "\u00e9", "\u2028"])),
        st.integers(0, 60),
    ).map(lambda s: "/" + s),
)
CALLS = st.lists(
    st.tuples(
        URLS,
        st.integers(0, 70_000),
        st.sampled_from([token.LOCATION_HTML, token.LOCATION_TEXT]),
        st.lists(st.text(max_size=12), max_size=3).map(tuple),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(calls=CALLS, key_id=st.sampled_from([0, 7, 127, 128, 300, 2**32]))
def test_one_minter_for_many_links_matches_the_definition(
    calls: list[tuple[str, int, int, tuple[str, ...]]], key_id: int
) -> None:
    minter = token.TokenMinter(
        key_id, KEY, message_id="m-9", sent_at=1_700_000_000, recipient="h:r"
    )
    for url, index, location, tags in calls * 2:  # the second pass hits every cache
        try:
            expected = reference_mint(key_id, url, "m-9", index, location, tags)
        except token.TokenError:
            with pytest.raises(token.TokenError):
                minter.mint(url, index, location, tags)
            continue
        assert minter.mint(url, index, location, tags) == expected
        opened = token.open_token(expected, {key_id: KEY})
        assert opened is not None and opened.url == url


def test_a_golden_vector_from_a_minter_that_minted_before() -> None:
    minter = token.TokenMinter(7, KEY, message_id="msg-1", sent_at=1700000000, recipient="h:abc")
    minter.mint(
        "https://example.com/other", 0, token.LOCATION_HTML, ()
    )  # warm both caches with a neighbour
    minter.mint("https://example.com/path?a=1&b=2#frag", 2, token.LOCATION_TEXT, ())
    assert minter.mint(
        "https://example.com/path?a=1&b=2#frag", 3, token.LOCATION_HTML, ("campaign:fall",)
    ) == (
        "example.com/BgeYA7IvcGF0aD9hPTEmYj0yI2ZyYWelbXNnLTEDAJGtY2FtcGFpZ246ZmFsbM5lU_EApWg6YWJjAACz"
        "mKsIbyc5T7JT8OZdZCwn"
    )


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "https://exa mple.com/", "https://", "https://e.com/\x7f"]
)
def test_a_reused_minter_refuses_what_mint_refuses(url: str) -> None:
    minter = token.TokenMinter(1, KEY)
    minter.mint("https://example.com/", 0, token.LOCATION_HTML, ())
    with pytest.raises(token.TokenError):
        minter.mint(url, 1, token.LOCATION_HTML, ())
    with pytest.raises(token.TokenError):
        minter.mint("https://example.com/", 1, 2, ())


def test_bad_keys_are_refused_up_front() -> None:
    with pytest.raises(token.TokenError):
        token.TokenMinter(1, b"short")
    with pytest.raises(token.TokenError):
        token.TokenMinter(-1, KEY)


def test_caches_stay_bounded_and_correct() -> None:
    minter = token.TokenMinter(3, KEY, sent_at=1_700_000_000, recipient="h:r")
    for n in range(token._CACHE_SIZE + 10):
        url = f"https://e{n % 7}.example/{n}"
        tags = (f"t{n}",)
        assert minter.mint(url, n, 0, tags) == reference_mint(3, url, "", n, 0, tags)
    assert len(minter._by_url) <= token._CACHE_SIZE
    assert len(minter._tails) <= token._CACHE_SIZE
    assert len(minter._by_netloc) <= 7


def test_no_token_ends_in_what_linkifiers_cut_off() -> None:
    # Thunderbird drops a trailing "-" from a URL in plain text, GitHub-flavoured
    # linkifiers a "_": the tag would lose its last character and the link would 404.
    minter = token.TokenMinter(1, KEY, message_id="m", sent_at=1_700_000_000, recipient="h:r")
    moved = 0
    for index in range(2000):
        location = index % 2  # html and text alike
        minted = minter.mint(f"https://e.com/{index}", index, location, ())
        assert minted[-1] not in "-_"
        opened = token.open_token(minted, {1: KEY})
        assert opened is not None and opened.url == f"https://e.com/{index}"
        assert 0 <= opened.body.sent_at - 1_700_000_000 <= 40
        moved += opened.body.sent_at != 1_700_000_000
    assert 20 < moved < 140  # about 2000 / 32 signed again
    # No send time to move: the token is left as the format makes it, "-" and "_" too.
    unsent = token.TokenMinter(1, KEY)
    texts = [unsent.mint(f"https://e.com/{n}", n, token.LOCATION_TEXT, ()) for n in range(500)]
    assert {text[-1] for text in texts} & {"-", "_"}
    opened_all = [token.open_token(text, {1: KEY}) for text in texts]
    assert {opened.body.sent_at for opened in opened_all if opened is not None} == {0}
    assert None not in opened_all
