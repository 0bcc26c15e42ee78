"""Text-body rules of issue 3: URL boundaries, www. handling, reports and tokens."""

from __future__ import annotations

import pytest

from control.rewrite import RewriteOptions
from control.rewrite.text import find_urls
from tests.rewrite.helpers import opened, reasons, rewrite


def urls_in(text: str, prefix_www: bool = False) -> list[str]:
    return [text[start:end] for start, end in find_urls(text, prefix_www=prefix_www)]


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("See https://e.com/a.", ["https://e.com/a"]),
        (
            "https://e.com/a, https://e.com/b; https://e.com/c: end",
            ["https://e.com/a", "https://e.com/b", "https://e.com/c"],
        ),
        ("Really https://e.com/a?! Yes https://e.com/b!", ["https://e.com/a", "https://e.com/b"]),
        ("(https://e.com/a)", ["https://e.com/a"]),
        (
            "(see https://en.wikipedia.org/wiki/Tomato_(disambiguation))",
            ["https://en.wikipedia.org/wiki/Tomato_(disambiguation)"],
        ),
        ("https://e.com/wiki/A_(b), next", ["https://e.com/wiki/A_(b)"]),
        ("<https://e.com/a?x=1>", ["https://e.com/a?x=1"]),
        ('"https://e.com/a"', ["https://e.com/a"]),
        ("'https://e.com/a'", ["https://e.com/a"]),
        (
            "\u201chttps://e.com/a\u201d and \u2018https://e.com/b\u2019",
            ["https://e.com/a", "https://e.com/b"],
        ),
        ("«https://e.com/a»", ["https://e.com/a"]),
        (
            "https://e.com/a\u2019s page, https://e.com/b\u2026",
            ["https://e.com/a", "https://e.com/b"],
        ),
        ("[link](https://e.com/a)", ["https://e.com/a"]),
        # A markdown link whose text is a URL, and html2text's linked image: two URLs.
        ("[https://e.com/a](https://e.com/b)", ["https://e.com/a", "https://e.com/b"]),
        (
            "[![Logo](https://e.com/logo.png)](https://e.com/home)",
            ["https://e.com/logo.png", "https://e.com/home"],
        ),
        # Character references a careless HTML-to-text conversion left after a link.
        (
            "&lt;https://e.com/a&gt; and https://e.com/b&#41;.",
            ["https://e.com/a", "https://e.com/b"],
        ),
        ("https://e.com/?a=1&amp;b=2", ["https://e.com/?a=1&amp;b=2"]),  # not at the end
        # Bidi marks around a URL in right-to-left text, zero-width padding, a joiner.
        (
            "\u202bhttps://e.com/a\u202c \u2066https://e.com/b\u2069 https://e.com/c\u200bnext"
            " https://e.com/d\u200d",
            ["https://e.com/a", "https://e.com/b", "https://e.com/c", "https://e.com/d"],
        ),
        ("[https://e.com/a]", ["https://e.com/a"]),
        ("https://e.com/a?b=[1]", ["https://e.com/a?b=[1]"]),
        ("HTTPS://E.COM/A", ["HTTPS://E.COM/A"]),
        ("https://e.com/a...", ["https://e.com/a"]),
        ("访问https://e.com/a。谢谢", ["https://e.com/a"]),
        ("xhttps://e.com/a and mailto:x@e.com and ftp://e.com/", []),
        ("a bare https:// alone, and https://.", []),
        ("https://e.com/very/long-\n  wrapped/part", ["https://e.com/very/long-"]),
        ("https://e.com/a\r\nhttps://e.com/b", ["https://e.com/a", "https://e.com/b"]),
        ("https://e.com/a\thttps://e.com/b", ["https://e.com/a", "https://e.com/b"]),
        ("url=https://e.com/a&b=1", ["https://e.com/a&b=1"]),
        # A "'" the link opened is its own; one it did not open closes the sentence.
        ("https://e.com/?q='x'", ["https://e.com/?q='x'"]),
        ("'see https://e.com/?q='x''", ["https://e.com/?q='x'"]),
        ("https://e.com/it's-here", ["https://e.com/it's-here"]),
        # Markdown emphasis and code around a link.
        ("**https://e.com/a** and _https://e.com/b_", ["https://e.com/a", "https://e.com/b"]),
        ("~https://e.com/a~ or `https://e.com/b`", ["https://e.com/a", "https://e.com/b"]),
        ("https://e.com/a_b_c", ["https://e.com/a_b_c"]),
        # Punctuation of other scripts after a link belongs to the sentence.
        (
            "https://e.com/a\u203a https://e.com/b\u2013 https://e.com/c\u060c https://e.com/d\u0964",
            ["https://e.com/a", "https://e.com/b", "https://e.com/c", "https://e.com/d"],
        ),
        ("https://e.com/caf\u00e9", ["https://e.com/caf\u00e9"]),  # a letter stays
        # Letters of the CJK punctuation and full-width blocks stay; their punctuation ends.
        (
            "詳細: https://ja.wikipedia.org/wiki/佐々木 をご覧ください",
            ["https://ja.wikipedia.org/wiki/佐々木"],
        ),
        (
            "https://example.jp/日々の記録、https://e.com/b",
            ["https://example.jp/日々の記録", "https://e.com/b"],
        ),
        ("「https://e.com/ﾌﾟﾚｾﾞﾝﾄ」", ["https://e.com/ﾌﾟﾚｾﾞﾝﾄ"]),
        (
            "\uff08https://e.com/\uff21\uff22\uff23\uff11\uff09\u3068",  # full-width (ABC1)
            ["https://e.com/\uff21\uff22\uff23\uff11"],
        ),
    ],
)
def test_url_boundaries(text: str, urls: list[str]) -> None:
    assert urls_in(text) == urls


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("Visit www.e.com/a!", ["www.e.com/a"]),
        ("WWW.E.COM and https://www.e.com/b", ["WWW.E.COM", "https://www.e.com/b"]),
        ("mail me at x@www.e.com or foo.www.e.com", []),
        ("www. is not a link", []),
    ],
)
def test_www_urls_when_enabled(text: str, urls: list[str]) -> None:
    assert urls_in(text, prefix_www=True) == urls
    assert all(url.lower().startswith("https://") for url in urls_in(text))


def test_text_links_are_rewritten_in_place() -> None:
    text = "Hi,\r\nsee (https://e.com/a?x=1&y=2), or <https://e.com/b>.\r\nBye"
    result = rewrite(text=text)
    first, second = result.links
    assert result.text == text.replace("https://e.com/a?x=1&y=2", first.tracked_url or "").replace(
        "https://e.com/b", second.tracked_url or ""
    )
    assert opened(first.tracked_url or "").url == "https://e.com/a?x=1&y=2"
    assert opened(second.tracked_url or "").body.location == 1
    assert first.location == second.location == "text"


def test_text_www_gets_http_and_params() -> None:
    options = RewriteOptions(prefix_www=True, url_params={"utm_source": "mail"})
    result = rewrite(text="Go to www.e.com/shop.", options=options)
    link = result.links[0]
    assert link.original_url == "www.e.com/shop"
    assert opened(link.tracked_url or "").url == "http://www.e.com/shop?utm_source=mail"
    assert result.text == f"Go to {link.tracked_url}."


def test_text_skips_are_reported_and_untouched() -> None:
    text = (
        "a https://e.com/?u={{id}} b https://e.com/%zz c https://click.example.com/x/AAA "
        "d https://e.com/?m=*|ID|*"
    )
    result = rewrite(
        text=text, options=RewriteOptions(click_hosts=frozenset({"click.example.com"}))
    )
    assert reasons(result) == ["placeholder", "malformed", "already_tracked", "placeholder"]
    assert result.text == text


@pytest.mark.parametrize(
    "url",
    [
        "https://e.com/u/{{ user.id }}/welcome",
        "https://e.com/?u={{ user }}&v=2",
        "https://e.com/{% if vip %}gold{% else %}std{% endif %}",
        "https://e.com/[[ name ]]",
        "www.e.com/{{ path }}",
    ],
)
def test_a_placeholder_with_spaces_is_one_link_reported_as_a_placeholder(url: str) -> None:
    text = f"Hello,\n{url}.\nThanks"
    result = rewrite(text=text, options=RewriteOptions(prefix_www=True))
    assert [(link.original_url, link.skip_reason) for link in result.links] == [
        (url, "placeholder")
    ]
    assert result.text == text


@pytest.mark.parametrize(
    "url",
    [
        "https://e.com/?e=$(EMAIL_ADDRESS_)$",
        "https://e.com/?e=*%7CEMAIL%7C*",  # Mailchimp's closing "*" is not emphasis
        "https://e.com/?e=~~eloqua..type--emailfield..syntax--EmailAddress~~",
        "https://e.com/?e=%EMAIL%",
        "https://e.com/?e=[email]",
    ],
)
def test_other_senders_merge_tags_end_a_text_url_whole(url: str) -> None:
    # Eloqua's closing "~~" is not markdown strikethrough here: the URL opened it.
    text = f"Your preferences: {url}.\n"
    result = rewrite(text=text)
    assert [(link.original_url, link.skip_reason) for link in result.links] == [
        (url, "placeholder")
    ]
    assert result.text == text
    assert urls_in("See ~~https://e.com/old~~ now") == ["https://e.com/old"]


def test_a_placeholder_never_joins_two_lines_or_runs_on() -> None:
    # An opener whose closer is on the next line, or too far, ends the URL as before.
    assert urls_in("https://e.com/{{ a\nb }} x") == ["https://e.com/{{"]
    far = "https://e.com/{{ " + "a" * 300 + " }}"
    assert urls_in(far) == ["https://e.com/{{"]
    assert urls_in("https://e.com/a [[note]]") == ["https://e.com/a"]


def test_non_ascii_paths_in_text_are_encoded_for_the_token() -> None:
    result = rewrite(text="Kategorie: https://shop.example.de/küche?sort=neu")
    link = result.links[0]
    assert link.original_url == "https://shop.example.de/küche?sort=neu"
    assert opened(link.tracked_url or "").url == "https://shop.example.de/k%C3%BCche?sort=neu"


def test_text_tracking_can_be_switched_off() -> None:
    text = "https://e.com/a"
    result = rewrite(text=text, options=RewriteOptions(track_text=False))
    assert result.text == text
    assert reasons(result) == ["disabled"]


def test_absent_bodies_stay_absent() -> None:
    result = rewrite()
    assert (result.html, result.text, result.links) == (None, None, [])
    assert rewrite(html="", text="").links == []
