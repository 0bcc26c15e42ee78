"""Find and rewrite http(s) URLs in plain-text bodies, with careful link boundaries."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from control.rewrite.model import LOCATION_TEXT
from control.rewrite.session import LinkSession
from control.rewrite.splice import Edit, apply_edits


def _cjk_punctuation() -> str:
    """The CJK and full-width punctuation and symbols ("\u3001", "\u300c", "\uff08"), escaped
    for a character class: not the letters and numbers of those blocks ("\u3005" in
    "\u4f50\u3005\u6728", full-width "\uff21", half-width katakana), which are part of a URL."""
    blocks = (*range(0x3000, 0x3040), *range(0xFF00, 0xFFF0))
    stops = (chr(c) for c in blocks if unicodedata.category(chr(c))[0] not in "LNM")
    return "".join(re.escape(c) for c in stops)


# Characters that end a URL in prose: whitespace (so no URL spans a line break), angle
# brackets, straight double quotes, backticks (markdown code; never in a URL), typographic
# quotes (a "\u2019s" after a link must not be percent-encoded into it), guillemets, the
# ellipsis, CJK/full-width punctuation, and the invisible marks that right-to-left text
# puts around a URL and preheaders pad with (bidi marks and isolates, zero-width space,
# word joiner, BOM): never meant as part of a link, they would be percent-encoded into it.
_NOT_URL: Final = (
    '\\s<>"`\u2018\u2019\u201c\u201d\u00ab\u00bb\u2039\u203a\u2026'
    "\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff" + _cjk_punctuation()
)
# A template placeholder may hold spaces ("{{ user.id }}", "{% if a %}", "[[ name ]]"):
# taken whole, so the link is reported as a placeholder rather than cut at the space
# and called malformed. At most 200 characters on one line, so a stray "{{" in prose
# costs a bounded look ahead and never joins two lines.
_SPACED_PLACEHOLDER: Final = (
    r"\{\{[^{}\r\n]{1,200}?\}\}|\{%[^{}\r\n]{1,200}?%\}|\[\[[^\[\]\r\n]{1,200}?\]\]"
)
# Runs of characters that open no placeholder first: most of a URL is read in one step.
_URL_BODY: Final = rf"(?:[^{_NOT_URL}{{\[]++|{_SPACED_PLACEHOLDER}|[{{\[])++"
# Not glued to a longer word: "xhttps://" and "foo.www.bar" are not links.
_SCHEME_URL: Final = rf"(?<![A-Za-z0-9+.\-])[Hh][Tt][Tt][Pp][Ss]?://{_URL_BODY}"
_WWW_URL: Final = rf"(?<![\w.@/\-])[Ww][Ww][Ww]\.{_URL_BODY}"
_URLS = re.compile(_SCHEME_URL)
_URLS_WITH_WWW = re.compile(f"{_SCHEME_URL}|{_WWW_URL}")

# Trailing characters that belong to the sentence, not the link; "*", "_" and "~" are
# markdown emphasis around it (GitHub's autolinks leave them out too). A trailing "'"
# closes the link only when the link holds no "'" of its own to pair it with.
_TRAILING_PUNCTUATION: Final = ".,;:!?*_~"
_CLOSERS: Final = {")": "(", "]": "[", "}": "{"}
# The end of a placeholder whose last character would otherwise be taken for emphasis.
_PLACEHOLDER_ENDS: Final = ("|*", "%7C*", "%7c*")
# A character reference left by a careless HTML-to-text conversion ("&gt;", "&#41;"):
# with its ";" it belongs to the sentence, as in GitHub's autolinks.
_TRAILING_REFERENCE = re.compile(r"&(?:[A-Za-z0-9]++|#[0-9]++|#[xX][0-9A-Fa-f]++)\Z")


def rewrite_text(text: str, session: LinkSession, *, enabled: bool, prefix_www: bool) -> str:
    """Return text with every trackable URL replaced by its tracked URL."""
    edits: list[Edit] = []
    for start, end in find_urls(text, prefix_www=prefix_www):
        found = text[start:end]
        tracked = session.add(found, LOCATION_TEXT, *session.destination(found), enabled)
        if tracked is not None:
            edits.append((start, end, tracked))
    return apply_edits(text, edits)


def find_urls(text: str, *, prefix_www: bool) -> list[tuple[int, int]]:
    """Spans of the URLs in text, trailing punctuation and unbalanced closers excluded."""
    search = (_URLS_WITH_WWW if prefix_www else _URLS).search
    spans: list[tuple[int, int]] = []
    match = search(text)
    while match is not None:
        start, url = match.start(), match.group()
        # A markdown link's "](" ends the URL before it: "[https://a](https://b)" and
        # html2text's linked image "[![x](https://a/i.png)](https://b)" hold two URLs.
        split = url.find("](")
        if split >= 0:
            url = url[:split]
        url = _trim(url)
        # A bare "https://" or "www." (say, before a line break) is not a link.
        prefix = 4 if url[0] in "Ww" else url.index("://") + 3
        if len(url) > prefix:
            spans.append((start, start + len(url)))
        match = search(text, start + split + 2 if split >= 0 else match.end())
    return spans


def _trim(url: str) -> str:
    """Drop sentence punctuation and closing brackets that have no opening partner."""
    end = len(url)
    # Closers minus openers in url[:end], per bracket kind, kept current as end moves
    # (counting afresh at each step would be quadratic in a URL ending in many ")").
    unbalanced = {
        closer: url.count(closer) - url.count(opener) for closer, opener in _CLOSERS.items()
    }
    quotes = url.count("'")
    while end:
        last = url[end - 1]
        if last in _TRAILING_PUNCTUATION:
            if last == "*" and url.endswith(_PLACEHOLDER_ENDS, 0, end):
                break  # the end of a "*|MERGE|*" placeholder, not emphasis
            if last == "~" and url[end - 2 : end] == "~~" and "~~" in url[: end - 2]:
                break  # the end of an Eloqua "~~field~~" merge, not strikethrough
            end -= 1
            # Looked for in the last 40 characters only (no reference is longer), so a
            # long run of ";" stays linear.
            if last == ";" and (reference := _TRAILING_REFERENCE.search(url, end - 40, end)):
                end = reference.start()
        elif last in _CLOSERS and unbalanced[last] > 0:
            unbalanced[last] -= 1
            end -= 1
        elif last == "'" and quotes % 2:  # "'https://e.com/'" but not "?q='x'"
            quotes -= 1
            end -= 1
        elif not last.isascii() and unicodedata.category(last)[0] == "P":
            end -= 1  # "\u2013", "\u060c", "\u0964", ...: punctuation of the sentence
        elif not last.isascii() and unicodedata.category(last) == "Cf":
            end -= 1  # an invisible format character (a joiner) after the URL
        else:
            break
    return url[:end]
