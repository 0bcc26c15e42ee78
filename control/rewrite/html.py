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
        tag = _read_tag(html, name_end, tag_end)
        tag_edits = [(*_removal_span(html, span, tag_end), "") for span in tag.removals]
        if tag.href is not None:
            edit = _link(html, tag, tag_end, name_end - start == 2, session, enabled)
            if edit is not None:
                tag_edits.append(edit)
        if tag_edits:
            edits.extend(_merged(tag_edits))
    return apply_edits(html, edits)


class _Tag:
    """What one link element's attributes say."""

    __slots__ = ("href", "opt_out", "removals", "tags")

    def __init__(self, href: re.Match[str] | None) -> None:
        self.href = href  # groups 2, 3, 4: double-quoted, single-quoted, unquoted value
        self.opt_out = False
        self.tags: list[str] = []
        self.removals: list[tuple[int, int]] = []


def _read_tag(html: str, name_end: int, tag_end: int) -> _Tag:
    # Every marker name contains "track" or "tags"; most tags have neither and need only
    # their href, which one regex finds without a Python-level loop over attributes.
    lowered = html[name_end:tag_end].lower()
    if "track" not in lowered and "tags" not in lowered:
        return _Tag(_FIRST_HREF.match(html, name_end, tag_end - 1))
    tag = _Tag(None)
    for attr in _ATTR.finditer(html, name_end, tag_end - 1):
        name = attr.group(1).lower()
        if name == "href":
            if tag.href is None:  # browsers keep the first of duplicate attributes
                tag.href = attr
        elif name == "class":
            classes = decode_attribute(_value(attr)).lower().split()
            tag.opt_out = tag.opt_out or "untracked" in classes
        elif name in _OTHER_NO_TRACK:
            tag.opt_out = True
        elif name == _OUR_NO_TRACK:
            tag.opt_out = True
            tag.removals.append(attr.span())
        elif name in (_OUR_TAGS, _POSTBOX_TAGS):
            tag.tags.extend(_parse_tags(decode_attribute(_value(attr))))
            if name == _OUR_TAGS:  # Postbox's own marker is left for Postbox
                tag.removals.append(attr.span())
    return tag


def _value(attr: re.Match[str]) -> str:
    value = attr.group(2)
    if value is None:
        value = attr.group(3)
        if value is None:
            value = attr.group(4) or ""
    return value


def _parse_tags(value: str) -> list[str]:
    """"key:value;key2:value2" -> ["key:value", "key2:value2"] (blanks dropped)."""
    return [part.strip() for part in value.split(";") if part.strip()]


def _link(
    html: str, tag: _Tag, tag_end: int, is_anchor: bool, session: LinkSession, enabled: bool
) -> Edit | None:
    """Report the tag's href; return the edit that writes its tracked URL, if any."""
    href = tag.href
    assert href is not None
    group = 2 if href.start(2) >= 0 else 3 if href.start(3) >= 0 else 4
    if href.start(group) < 0:  # "<a href>": an empty value, relative to the page
        value_start = value_end = href.end()
    else:
        value_start, value_end = href.span(group)
    found = decode_attribute(html[value_start:value_end]).strip(C0_OR_SPACE)
    tracked = session.link(
        found,
        LOCATION_HTML,
        enabled=enabled,
        opt_out=tag.opt_out,
        tags=tuple(tag.tags),
        # Only <a> has visible text that a mail client compares with the target.
        visible_text=(lambda: _visible_text(html, tag_end)) if is_anchor else None,
    )
    if tracked is None:
        return None
    quote = '"' if group == 2 else "'" if group == 3 else ""
    return value_start, value_end, encode_attribute(tracked, quote)


def _merged(tag_edits: list[Edit]) -> list[Edit]:
    """Sort one tag's edits; fuse removals whose widened spans share whitespace."""
    tag_edits.sort()
    merged = [tag_edits[0]]
    for start, end, replacement in tag_edits[1:]:
        last_start, last_end, last_replacement = merged[-1]
        if start < last_end:  # only two removals can overlap, and only in whitespace
            merged[-1] = (last_start, max(end, last_end), last_replacement + replacement)
        else:
            merged.append((start, end, replacement))
    return merged


def _removal_span(html: str, span: tuple[int, int], tag_end: int) -> tuple[int, int]:
    """Widen an attribute's span by the whitespace that would otherwise be left doubled.

    " attr " loses "attr " and " attr>" loses " attr"; with no whitespace before it (or
    before "/>", where "x=1/>" would glue the slash to an unquoted value) only the
    attribute goes, so no neighbouring token is joined to another.
    """
    start, end = span
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


def _visible_text(html: str, content_start: int) -> str:
    """Text a reader sees for an <a>: up to its </a> (or the next <a>), tags removed."""
    close = _A_CONTENT_END.search(html, content_start)
    content = html[content_start : len(html) if close is None else close.start()]
    if "<" in content:
        content = _ANY_TAG.sub("", content)
    if "&" in content:
        content = unescape(content)
    return content.strip()
