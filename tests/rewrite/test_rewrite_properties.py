"""Properties: nothing outside rewritten values changes; every token opens to its link.

Documents are generated from pieces whose meaning is known (live links with the exact
span of their href value, dead links in comments or scripts, text), so the expected
output is computed independently of the scanner under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control.rewrite import RewriteOptions, rewrite_message
from control.rewrite.entities import encode_attribute
from control.rewrite.scan import _SCAN
from control.rewrite.urls import has_placeholder
from tests.rewrite.helpers import minter, opened, with_params

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Link:
    destination: str  # what the author meant: the value with references decoded
    reason: str | None  # the skip code the rewriter must report (None: tracked)
    start: int = 0  # span of the raw value in the document
    end: int = 0
    quote: str = '"'


@dataclass
class Doc:
    pieces: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    removed: list[tuple[int, int]] = field(default_factory=list)  # our markers

    @property
    def size(self) -> int:
        return sum(map(len, self.pieces))

    def add(self, text: str) -> None:
        self.pieces.append(text)

    def html(self) -> str:
        return "".join(self.pieces)


LABELS = st.sampled_from(["example", "e", "shop", "x-y", "a1", "mail"])
TLDS = st.sampled_from(["com", "org", "co.uk", "de"])
PATH_CHARS = "abcXYZ019-._~!$'()*+,;=:@"
QUERY_KEYS = st.sampled_from(["a", "id", "utm_source", "q", "copy", "lt", "amp", "notit", "x1"])
QUERY_VALUES = st.text(alphabet=PATH_CHARS.replace("&", "") + "/?", max_size=8)


def http_urls() -> st.SearchStrategy[str]:
    """Trackable URLs: PATH_CHARS can spell other senders' merge tags ("$(a)$", "@XY@"),
    which the rewriter rightly leaves alone; their own tests are in test_rewrite_urls."""
    return _any_http_urls().filter(lambda url: not has_placeholder(url))


@st.composite
def _any_http_urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS", "Http"]))
    host = ".".join(draw(st.lists(LABELS, min_size=1, max_size=3))) + "." + draw(TLDS)
    port = draw(st.sampled_from(["", ":8080", ":443"]))
    segments = draw(st.lists(st.text(alphabet=PATH_CHARS, max_size=6), max_size=3))
    path = "".join("/" + s for s in segments) + draw(st.sampled_from(["", "/", "/%41%2f"]))
    pairs = draw(st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=3))
    query = (
        "?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else draw(st.sampled_from(["", "?"]))
    )
    fragment = draw(st.sampled_from(["", "#top", "#a/b?c=d"]))
    return f"{scheme}://{host}{port}{path}{query}{fragment}"


OTHER_LINKS = st.sampled_from(
    [
        ("mailto:someone@example.com?subject=Hi", "scheme"),
        ("tel:+1-555-0100", "scheme"),
        ("#anchor", "scheme"),
        ("/relative/path?a=1", "scheme"),
        ("{{ unsubscribe_url }}", "placeholder"),
        ("https://example.com/?u=*|UNIQID|*", "placeholder"),
        ("https://example.com/%zz", "malformed"),
        ("https://exa_mple..com/", "malformed"),
    ]
)
# Visible text of an <a>, and whether it reads as a URL (scam-warning protection).
CONTENTS = st.sampled_from(
    [
        ("Shop now", False),
        ("", False),
        ('<img src="https://cdn.example.com/a.png" alt="example.com">', False),
        ("caf&eacute; &amp; more", False),
        ("example.com", True),
        ("invoice.pdf", False),  # no such top-level domain
        (" <b>https://example.com/x</b> ", True),
    ]
)
OTHER_ATTRIBUTES = st.sampled_from(
    [
        'class="btn"',
        "style='color:red;font-family:\"A\"'",
        'title="href=https://title.example.com/"',
        'data-href="https://data.example.com/"',
        "target=_blank",
        'alt="a > b"',
        "hreflang=en",
        "disabled",
    ]
)
SEPARATORS = st.sampled_from([" ", "  ", "\n", "\r\n\t"])


def encode_value(draw: st.DrawFn, value: str, quote_char: str) -> str:
    """Write a destination as an author might: references chosen at random, all valid."""
    out = []
    literal_until = 0
    for i, char in enumerate(value):
        forms = [char]
        if i < literal_until:
            pass  # a key after a bare "&": written as is (an "=" here is allowed unquoted)
        elif char == "&":
            forms = ["&amp;", "&#38;", "&#x26;"]
            key = re.match(r"[A-Za-z0-9]+=", value[i + 1 :])
            if key and draw(st.booleans()):
                # "&key=" stays literal in an attribute value, if "key=" is written as is.
                forms = ["&"]
                literal_until = i + 1 + key.end()
        elif char == quote_char or (not quote_char and char in "\"'`<="):
            forms = [f"&#{ord(char)};"]
        elif char in "/:?=":
            forms = [char, char, f"&#{ord(char)};", f"&#x{ord(char):x};"]
        out.append(draw(st.sampled_from(forms)))
    return "".join(out)


@st.composite
def link_tag(draw: st.DrawFn, doc: Doc, name: str) -> None:
    """Append one live link element to doc, recording its value span and expectations."""
    if draw(st.booleans()):
        destination, reason = draw(http_urls()), None
    else:
        destination, reason = draw(OTHER_LINKS)
    quote_char = draw(st.sampled_from(['"', "'", ""]))
    if not quote_char and reason is not None:
        quote_char = '"'  # keep the fixed odd links simple to write
    before = draw(st.lists(OTHER_ATTRIBUTES, max_size=2))
    after = draw(st.lists(OTHER_ATTRIBUTES, max_size=2))
    doc.add(f"<{name}")
    for attribute in before:
        doc.add(draw(SEPARATORS) + attribute)
    equals = draw(st.sampled_from(["=", " = ", "\n=\n"]))
    doc.add(
        draw(SEPARATORS) + draw(st.sampled_from(["href", "HREF", "Href"])) + equals + quote_char
    )
    padding = draw(st.sampled_from(["", " ", "\n  "])) if quote_char else ""
    raw = padding + encode_value(draw, destination, quote_char) + padding
    link = Link(destination, reason, doc.size, doc.size + len(raw), quote_char)
    doc.add(raw + quote_char)
    for attribute in after:
        doc.add(draw(SEPARATORS) + attribute)
    if draw(st.booleans()):
        tags = ' data-clickgate-tags="k:v"'
        # After a "/" (an unquoted href ending in one) the space stays, so that taking the
        # marker out cannot make "/>" (control.rewrite.html._widened).
        kept = 1 if doc.html().endswith("/") else 0
        doc.removed.append((doc.size + kept, doc.size + len(tags)))
        doc.add(tags)
    doc.add(">")
    if name.lower() == "a":
        content, url_like = draw(CONTENTS)
        doc.add(content + draw(st.sampled_from(["</a>", "</A>", "</a >"])))
        if url_like and reason is None:
            link.reason = "visible_url"
    doc.links.append(link)


DEAD = st.sampled_from(
    [
        '<!-- <a href="https://dead.example.com/c">x</a> -->',
        "<script>var s = \"<a href='https://dead.example.com/s'>\";</script>",
        "<STYLE>a[href='https://dead.example.com/y'] {}</style >",
        "<img alt='<a href=\"https://dead.example.com/i\">' src=x.png>",
        '<![CDATA[<a href="https://dead.example.com/d">]]>',
        '<span data-href="https://dead.example.com/h">t</span>',
        "<!---->",
        "<!DOCTYPE html>",
    ]
)
TEXT = st.text(alphabet="ab XY\n\r\t.,;:!?'\"=/>é€", max_size=12) | st.sampled_from(
    ["&amp;", "&copy;", "&#169;", "&nbsp;", "a < b", "<p class=x>", "</p>", "<br/>"]
)


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    doc = Doc()
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["text", "dead", "a", "area", "vml"]))
        if kind == "text":
            doc.add(draw(TEXT))
        elif kind == "dead":
            doc.add(draw(DEAD))
        elif kind == "vml":
            doc.add(draw(st.sampled_from(["<!--[if mso]>", "<!--[if gte mso 9]>\n"])))
            draw(link_tag(doc, draw(st.sampled_from(["v:roundrect", "V:Rect"]))))
            doc.add("</v:roundrect><![endif]-->")
        else:
            draw(link_tag(doc, draw(st.sampled_from([kind, kind.upper()]))))
    return doc


PARAMS = st.sampled_from([{}, {"utm_source": "news"}, {"utm_source": "news", "a": "x y&z"}])


@SETTINGS
@given(documents(), PARAMS)
def test_html_outside_values_is_unchanged_and_tokens_open(doc: Doc, params: dict[str, str]) -> None:
    html = doc.html()
    result = rewrite_message(html, None, minter, RewriteOptions(url_params=params))
    assert [link.original_url for link in result.links] == [link.destination for link in doc.links]
    assert [link.skip_reason for link in result.links] == [link.reason for link in doc.links]
    expected, last = [], 0
    spans = sorted(
        [
            (link.start, link.end, report.tracked_url, link.quote)
            for link, report in zip(doc.links, result.links, strict=True)
        ]
        + [(start, end, "", "") for start, end in doc.removed]
    )
    for start, end, tracked, quote_char in spans:
        expected.append(html[last:start])
        if tracked is None:
            expected.append(html[start:end])
        elif tracked:
            expected.append(encode_attribute(tracked, quote_char))
        last = end
    expected.append(html[last:])
    assert result.html == "".join(expected)
    for link in result.links:
        if link.tracked_url is not None:
            assert opened(link.tracked_url).url == with_params(link.original_url, params)


TEXT_URLS = st.builds(
    lambda url, tail: url + tail,
    http_urls().filter(lambda u: "'" not in u and "(" not in u and ")" not in u),
    st.sampled_from(["", "/x", "/wiki/A_(b)"]),
).filter(lambda u: u[-1] not in ".,;:!?'*_~")  # what ends a sentence or emphasis
WRAPPERS = st.sampled_from(
    [
        ("", ""),
        ("(", ")"),
        ("<", ">"),
        ('"', '"'),
        ("", "."),
        ("", ","),
        ("", "!"),
        ("", "?"),
        ("", ":"),
        ("\u201c", "\u201d"),
    ]
)
WORDS = st.sampled_from(
    ["Hello", "see", "mailto:x@example.com", "a.b", "(note)", "1.5", "x:y", "ftp://f.example"]
)
GAPS = st.sampled_from([" ", "  ", "\n", "\r\n", "\t", " \n "])


@SETTINGS
@given(
    st.lists(st.one_of(WORDS.map(lambda w: (w, None)), st.tuples(WRAPPERS, TEXT_URLS)), max_size=8),
    GAPS,
    PARAMS,
)
def test_text_urls_are_found_exactly_and_tokens_open(
    parts: list[tuple[object, object]], gap: str, params: dict[str, str]
) -> None:
    text, spans = "", []
    for first, second in parts:
        if isinstance(second, str) and isinstance(first, tuple):
            opening, closing = first
            text += opening
            spans.append((len(text), len(text) + len(second)))
            text += second + closing + gap
        else:
            text += f"{first}{gap}"
    result = rewrite_message(None, text, minter, RewriteOptions(url_params=params))
    assert [link.original_url for link in result.links] == [text[s:e] for s, e in spans]
    expected, last = [], 0
    for (start, end), link in zip(spans, result.links, strict=True):
        assert link.tracked_url is not None, link
        expected.append(text[last:start] + link.tracked_url)
        last = end
        assert opened(link.tracked_url).url == with_params(text[start:end], params)
    assert result.text == "".join(expected) + text[last:]


def refusing_minter(url: str, index: int, location: str, tags: tuple[str, ...]) -> str:
    raise ValueError("refuse everything")


FRAGMENTS = st.sampled_from(
    [
        "<a",
        "<A",
        "<area",
        "<v:x",
        " href",
        "=",
        '"',
        "'",
        ">",
        "/>",
        "<!--",
        "-->",
        "<!--[if mso]>",
        "<![endif]-->",
        "<script>",
        "</script>",
        "<style>",
        "</style",
        "<![CDATA[",
        "]]>",
        "https://e.com/",
        "http://x.org/a?b=1",
        "&amp;",
        "&",
        "#",
        " ",
        "\n",
        "text",
        "class=untracked",
        "data-pm-no-track",
        "</a>",
        "<",
        "{{x}}",
        "é",
        "<!",
        "<?",
        "</",
        "<v:",
        "<V:",
        "<Area",
        "<!-->",
        "<!--->",
        "--!>",
        "<title>",
        "<plaintext>",
        "<x",
        "\t",
        "<a/",
    ]
)


@SETTINGS
@given(st.lists(FRAGMENTS, max_size=40).map("".join), st.text(max_size=40))
def test_arbitrary_input_never_fails_and_untracked_means_unchanged(soup: str, noise: str) -> None:
    for html in (soup, noise, soup + noise):
        result = rewrite_message(html, html, refusing_minter, RewriteOptions(prefix_www=True))
        assert result.html == html
        assert result.text == html
        assert all(link.tracked_url is None for link in result.links)
        rewrite_message(html, html, minter, RewriteOptions())


@SETTINGS
@given(st.lists(FRAGMENTS, max_size=40).map("".join))
def test_the_scan_stops_only_at_a_link_tag_or_the_end(html: str) -> None:
    # A stop anywhere else would silently leave the rest of the message unscanned.
    pos = 0
    while pos < len(html):
        match = _SCAN.match(html, pos)
        assert match is not None
        if match.start("end") < 0:
            assert match.end() == len(html), (html, pos, match.end())
            break
        assert match.end() > pos
        pos = match.end()
