"""Byte-exact HTML link rewriting: edit href values and our markers, nothing else."""

from __future__ import annotations

import re
from html import unescape
from typing import Final

from control.rewrite.entities import decode_attribute, encode_attribute
from control.rewrite.model import LOCATION_HTML
from control.rewrite.scan import ATTR, WS, link_tags
from control.rewrite.session import LinkSession
from control.rewrite.splice import Edit, apply_edits
from control.rewrite.urls import C0_OR_SPACE

# One attribute with its value. Groups: 1 name, 2 double-, 3 single-quoted, 4 unquoted.
_ATTR = re.compile(
    rf"([^{WS}/>][^{WS}/>=]*)(?:[{WS}]*=[{WS}]*(?:\"([^\"]*)\"|'([^']*)'|([^{WS}>]*)))?"
)
# The first href of a tag, every other attribute skipped whole, so neither "data-href"
# nor a title that mentions "href=" can match. Groups as in _ATTR.
_FIRST_HREF = re.compile(
    rf"(?:[{WS}/]++|(?![Hh][Rr][Ee][Ff](?![^{WS}/>=])){ATTR})*+"
    rf"([Hh][Rr][Ee][Ff])(?![^{WS}/>=])"
    rf"(?:[{WS}]*+=[{WS}]*+(?:\"([^\"]*+)\"|'([^']*+)'|([^{WS}>]*+)))?"
)
_A_CONTENT_END = re.compile(rf"</?[Aa](?=[{WS}/>])")
# The usual content of an <a>: tags and whitespace around at most one run of text (an
# image, "Shop now", "<span>example.com</span>"), read with one regex call. The content
# ends at </a>, or at the next <a>, which closes it.
_TAGS_OR_WS: Final = rf"(?:[{WS}]++|<(?!/?[Aa][{WS}/>])[^>]*+>)*+"
_ONE_TEXT_RUN = re.compile(rf"{_TAGS_OR_WS}([^<]*+){_TAGS_OR_WS}(?=</?[Aa][{WS}/>]|\Z)")
_ANY_TAG = re.compile(r"<[^>]*>?")
_WS_CHARS: Final = "\t\n\f\r "

_OUR_NO_TRACK: Final = "data-clickgate-no-track"
_OUR_TAGS: Final = "data-clickgate-tags"
_POSTBOX_TAGS: Final = "postbox:tags"
_OTHER_NO_TRACK: Final = frozenset({"data-pm-no-track", "data-smtpd-no-track", "ses:no-track"})


def rewrite_html(html: str, session: LinkSession, *, enabled: bool) -> str:
    """Return html with tracked hrefs and our markers removed; all else byte-identical."""
    edits: list[Edit] = []
    for start, name_end, tag_end in link_tags(html):
        is_anchor = name_end - start == 2  # "<a": only it has visible text to protect
        # Every marker name contains "track" or "tags"; most tags have neither and need
        # only their href, which one regex finds without a Python loop over attributes.
        lowered = html[name_end:tag_end].lower()
        if "track" in lowered or "tags" in lowered:
            edits.extend(_marked_tag(html, name_end, tag_end, is_anchor, session, enabled))
            continue
        href = _FIRST_HREF.match(html, name_end, tag_end - 1)
        if href is not None:
            edit = _link(html, href, tag_end, is_anchor, session, enabled, False, ())
            if edit is not None:
                edits.append(edit)
    return apply_edits(html, edits)


def _marked_tag(
    html: str, name_end: int, tag_end: int, is_anchor: bool, session: LinkSession, enabled: bool
) -> list[Edit]:
    """A tag that may carry opt-out or tag markers: read every attribute."""
    href: re.Match[str] | None = None
    opt_out = False
    tags: list[str] = []
    removals: list[tuple[int, int]] = []
    for attr in _ATTR.finditer(html, name_end, tag_end - 1):
        name = attr.group(1).lower()
        if name == "href":
            href = href or attr  # browsers keep the first of duplicate attributes
        elif name == "class":
            opt_out = opt_out or "untracked" in decode_attribute(_value(attr)).lower().split()
        elif name in _OTHER_NO_TRACK:
            opt_out = True
        elif name == _OUR_NO_TRACK:
            opt_out = True
            removals.append(attr.span())
        elif name in (_OUR_TAGS, _POSTBOX_TAGS):
            tags.extend(_parse_tags(decode_attribute(_value(attr))))
            if name == _OUR_TAGS:  # Postbox's own marker is left for Postbox
                removals.append(attr.span())
    edits = _removals(html, removals, tag_end)
    if href is not None:
        edit = _link(html, href, tag_end, is_anchor, session, enabled, opt_out, tuple(tags))
        if edit is not None:
            edits.append(edit)
            edits.sort()  # the href may come before or after the markers
    return edits


def _value(attr: re.Match[str]) -> str:
    return attr.group(2) or attr.group(3) or attr.group(4) or ""


def _parse_tags(value: str) -> list[str]:
    """ "key:value;key2:value2" -> ["key:value", "key2:value2"] (blanks dropped)."""
    return [part.strip() for part in value.split(";") if part.strip()]


def _link(
    html: str,
    href: re.Match[str],
    tag_end: int,
    is_anchor: bool,
    session: LinkSession,
    enabled: bool,
    opt_out: bool,
    tags: tuple[str, ...],
) -> Edit | None:
    """Report an href (groups 2-4 of _ATTR); return the edit writing its tracked URL."""
    quote = '"'
    value_start, value_end = href.span(2)
    if value_start < 0:
        quote = "'"
        value_start, value_end = href.span(3)
        if value_start < 0:
            quote = ""
            value_start, value_end = href.span(4)
            if value_start < 0:  # "<a href>": an empty value, relative to the page
                value_start = value_end = href.end()
    found = decode_attribute(html[value_start:value_end]).strip(C0_OR_SPACE)
    visible = _VisibleText(html, tag_end) if is_anchor else None
    tracked = session.link(found, LOCATION_HTML, enabled, opt_out, tags, visible)
    if tracked is None:
        return None
    return value_start, value_end, encode_attribute(tracked, quote)


def _removals(html: str, spans: list[tuple[int, int]], tag_end: int) -> list[Edit]:
    """Edits deleting marker attributes; neighbours with only whitespace between go as one."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and not html[merged[-1][1] : start].strip(_WS_CHARS):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return [(*_widened(html, start, end, tag_end), "") for start, end in merged]


def _widened(html: str, start: int, end: int, tag_end: int) -> tuple[int, int]:
    """Widen a removal by the whitespace that would otherwise be left doubled.

    " attr " loses "attr " and " attr>" loses " attr"; with no whitespace before it (or
    before "/>", where "x=1/>" would glue the slash to an unquoted value) only the
    attribute goes, so no neighbouring token is joined to another.
    """
    before = start
    while html[before - 1] in _WS_CHARS:
        before -= 1
    if before == start:
        return start, end
    after = end
    while after < tag_end and html[after] in _WS_CHARS:
        after += 1
    if after > end:
        return start, after
    if html[end] == ">":
        return before, end
    return start, end


class _VisibleText:
    """Text a reader sees for an <a>, computed only if a link gets that far."""

    __slots__ = ("_content_start", "_html")

    def __init__(self, html: str, content_start: int) -> None:
        self._html = html
        self._content_start = content_start

    def __call__(self) -> str:
        html, start = self._html, self._content_start
        simple = _ONE_TEXT_RUN.match(html, start)
        if simple is not None:
            content = simple.group(1)
        else:  # several runs of text: cut out the tags between them
            close = _A_CONTENT_END.search(html, start)
            content = _ANY_TAG.sub("", html[start : len(html) if close is None else close.start()])
        if "&" in content:
            content = unescape(content)
        return content.strip()
