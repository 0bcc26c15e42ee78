"""Byte-exact HTML link rewriting: a regex-driven scanner that edits only href values."""

from __future__ import annotations

import re
from html import unescape
from typing import Final

from control.rewrite.entities import decode_attribute, encode_attribute
from control.rewrite.model import LOCATION_HTML
from control.rewrite.session import LinkSession
from control.rewrite.urls import C0_OR_SPACE

_WS: Final = r"\t\n\f\r "  # HTML whitespace; \s would also take U+00A0 and friends
# One attribute, or a run of separators, per the tokenizer's attribute states. A quoted
# value with no closing quote runs to the end of input, as it does in a browser.
_ATTRS: Final = (
    rf"(?:[{_WS}/]++|[^{_WS}/>][^{_WS}/>=]*+"
    rf"(?:[{_WS}]*+=[{_WS}]*+(?:\"[^\"]*+\"?|'[^']*+'?|[^{_WS}>]++)?)?)*+"
)
_LINK_TAG: Final = rf"(?:[Aa]|[Aa][Rr][Ee][Aa]|[Vv]:[^{_WS}/>]+)(?=[{_WS}/>])"
_RAW_TAG: Final = (
    rf"(?i:script|style|textarea|title|xmp|iframe|noembed|noframes|plaintext)(?=[{_WS}/>])"
)

# Everything that cannot hold a link is consumed inside the regex engine (text, other
# tags with their attributes, end tags, doctype and bogus comments such as
# "<![endif]-->"); the match stops at the next construct that needs Python's attention.
# Skipping whole tags, not just looking for "<a", keeps "<img alt='<a href=x>'>" inert.
_SCAN = re.compile(
    rf"""(?:
        [^<]++
      | <(?=[A-Za-z])(?!{_LINK_TAG}|{_RAW_TAG})[^{_WS}/>]++{_ATTRS}>?
      | </[^>]*+>?
      | <[!?](?!--|\[CDATA\[)[^>]*+>?
      | <(?![A-Za-z!/?])
    )*+
    (?:
        <(?P<link>{_LINK_TAG})
      | <(?P<raw>{_RAW_TAG})
      | <!--(?P<comment>)
      | <!\[CDATA\[(?P<cdata>)
    )?""",
    re.VERBOSE,
)
_TAG_REST = re.compile(rf"{_ATTRS}>")
_ATTR = re.compile(
    rf"([^{_WS}/>][^{_WS}/>=]*)"
    rf"(?:[{_WS}]*=[{_WS}]*(?:\"([^\"]*)\"|'([^']*)'|([^{_WS}>]*)))?"
)
_CONDITIONAL_OPEN = re.compile(r"\[if[^\]>]*\]>", re.IGNORECASE)
_COMMENT_END = re.compile(r"--!?>")
_CDATA_END = "]]>"
_A_CONTENT_END = re.compile(rf"</?[Aa](?=[{_WS}/>])")
_ANY_TAG = re.compile(r"<[^>]*>?")
_WS_CHARS: Final = "\t\n\f\r "

_OUR_NO_TRACK: Final = "data-clickgate-no-track"
_OUR_TAGS: Final = "data-clickgate-tags"
_POSTBOX_TAGS: Final = "postbox:tags"
_OTHER_NO_TRACK: Final = frozenset({"data-pm-no-track", "data-smtpd-no-track", "ses:no-track"})

Edit = tuple[int, int, str]  # replace html[start:end] with the string


def rewrite_html(html: str, session: LinkSession, *, enabled: bool) -> str:
    """Return html with tracked hrefs and our markers removed; all else byte-identical."""
    edits: list[Edit] = []
    for start, name_end, tag_end in _link_tags(html):
        _rewrite_tag(html, start, name_end, tag_end, session, enabled, edits)
    return apply_edits(html, edits)


def _link_tags(html: str) -> list[tuple[int, int, int]]:
    """(tag start, end of tag name, end of tag) of every live <a>, <area> and <v:*>."""
    found: list[tuple[int, int, int]] = []
    pos, size, scan = 0, len(html), _SCAN.match
    while pos < size:
        match = scan(html, pos)
        kind = match.lastgroup
        if kind is None:
            break  # the scan consumed everything up to the end
        end = match.end()
        if kind == "link":
            rest = _TAG_REST.match(html, end)
            if rest is None:
                break  # a tag cut off by the end of input: browsers drop it
            found.append((match.start(kind) - 1, end, rest.end()))
            pos = rest.end()
        elif kind == "comment":
            pos = _after_comment(html, end)
        elif kind == "raw":
            pos = _after_raw_text(html, end, match.group(kind))
        else:
            cdata_end = html.find(_CDATA_END, end)
            pos = size if cdata_end < 0 else cdata_end + len(_CDATA_END)
    return found


def _after_comment(html: str, pos: int) -> int:
    """Where scanning resumes after "<!--" at pos: inside an Outlook conditional block."""
    conditional = _CONDITIONAL_OPEN.match(html, pos)
    if conditional is not None:
        # "<!--[if mso]> ... <![endif]-->": Outlook renders the inside as HTML, so scan
        # it; the closing "<![endif]-->" is consumed as a bogus comment by _SCAN.
        return conditional.end()
    if html.startswith(">", pos):
        return pos + 1  # "<!-->" is a complete (empty) comment
    if html.startswith("->", pos):
        return pos + 2
    end = _COMMENT_END.search(html, pos)
    return len(html) if end is None else end.end()


_RAW_ENDS: dict[str, re.Pattern[str]] = {}


def _after_raw_text(html: str, pos: int, name: str) -> int:
    """Skip a <script>-like element: nothing inside it up to its end tag is markup."""
    rest = _TAG_REST.match(html, pos)
    name = name.lower()
    if rest is None or name == "plaintext":
        return len(html)
    end_tag = _RAW_ENDS.get(name)
    if end_tag is None:
        end_tag = _RAW_ENDS.setdefault(name, re.compile(rf"</{name}(?=[{_WS}/>])", re.I))
    found = end_tag.search(html, rest.end())
    return len(html) if found is None else found.start()


class _Tag:
    """What one link element's attributes say, gathered in a single pass."""

    __slots__ = ("href", "opt_out", "removals", "tags")

    def __init__(self) -> None:
        self.href: re.Match[str] | None = None
        self.opt_out = False
        self.tags: list[str] = []
        self.removals: list[tuple[int, int]] = []


def _read_attributes(html: str, name_end: int, tag_end: int) -> _Tag:
    tag = _Tag()
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


def _rewrite_tag(
    html: str,
    start: int,
    name_end: int,
    tag_end: int,
    session: LinkSession,
    enabled: bool,
    edits: list[Edit],
) -> None:
    tag = _read_attributes(html, name_end, tag_end)
    tag_edits = [(*_removal_span(html, span, tag_end), "") for span in tag.removals]
    href = tag.href
    if href is not None:
        group = 2 if href.start(2) >= 0 else 3 if href.start(3) >= 0 else 4
        if href.start(group) < 0:  # "<a href>": an empty value, relative to the page
            value_start = value_end = href.end()
        else:
            value_start, value_end = href.span(group)
        found = decode_attribute(html[value_start:value_end]).strip(C0_OR_SPACE)
        is_anchor = name_end - start == 2  # "<a": only it has visible text to protect
        tracked = session.link(
            found,
            LOCATION_HTML,
            enabled=enabled,
            opt_out=tag.opt_out,
            tags=tuple(tag.tags),
            visible_text=(lambda: _visible_text(html, tag_end)) if is_anchor else None,
        )
        if tracked is not None:
            quote = '"' if group == 2 else "'" if group == 3 else ""
            tag_edits.append((value_start, value_end, encode_attribute(tracked, quote)))
    if tag_edits:
        tag_edits.sort()
        edits.extend(tag_edits)


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
    return unescape(_ANY_TAG.sub("", content)).strip()


def apply_edits(source: str, edits: list[Edit]) -> str:
    """Splice non-overlapping, ordered edits into source."""
    if not edits:
        return source
    pieces: list[str] = []
    last = 0
    for start, end, replacement in edits:
        pieces.append(source[last:start])
        pieces.append(replacement)
        last = end
    pieces.append(source[last:])
    return "".join(pieces)
