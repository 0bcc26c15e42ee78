"""Byte-exact HTML link rewriting: edit href values and our markers, nothing else."""

from __future__ import annotations

import re
from typing import Final

from control.rewrite.entities import decode_attribute, decode_text, encode_attribute
from control.rewrite.model import LOCATION_HTML, SKIP_OPT_OUT, SKIP_VISIBLE_URL
from control.rewrite.scan import (
    DOUBLE_QUOTED,
    END,
    HREF,
    LINK,
    SINGLE_QUOTED,
    UNQUOTED,
    WS,
    link_tags,
    without_foreign_cdata,
)
from control.rewrite.session import LinkSession
from control.rewrite.splice import Edit
from control.rewrite.urls import C0_OR_SPACE, looks_like_url

# One attribute with its value. Groups: 1 name, 2 double-, 3 single-quoted, 4 unquoted.
_ATTR = re.compile(
    rf"([^{WS}/>][^{WS}/>=]*)(?:[{WS}]*=[{WS}]*(?:\"([^\"]*)\"|'([^']*)'|([^{WS}>]*)))?"
)
_QUOTES: Final = ('"', "'", "")  # of groups 2, 3, 4 of _ATTR
_A_CONTENT_END = re.compile(rf"</?[Aa](?=[{WS}/>])")
# The usual content of an <a>: tags and whitespace around at most one run of text (an
# image, "Shop now", "<span>example.com</span>"), read with one regex call. The content
# ends at </a>, or at the next <a>, which closes it.
# A tag here holds no "<": otherwise "<<a href=...>" would read as one tag, the content
# would run on past the next link, and a page of such links would take quadratic time.
# Content with a "<" inside a tag goes the slower way, _several_runs.
# A quoted attribute value may hold a ">" (`<img alt="a>b">`): a quote right after "="
# opens one; anywhere else it is an ordinary character, as for browsers.
_QUOTED_NO_LT: Final = rf"=[{WS}]*+(?:\"[^\"<]*+\"|'[^'<]*+')"
# Comments, <style> and <script> are never shown, and "<!-- a>b -->" is no tag ending
# at its first ">": they go the slower way too.
_TAG_NO_LT: Final = (
    rf"<(?!/?+[Aa][{WS}/>]|!|[Ss][Tt][Yy]|[Ss][Cc][Rr])(?:[^<>=]++|{_QUOTED_NO_LT}|=)*+>"
)
_TAGS_OR_WS: Final = rf"(?:[{WS}]++|{_TAG_NO_LT})*+"
_ONE_TEXT_RUN = re.compile(rf"{_TAGS_OR_WS}([^<]*+){_TAGS_OR_WS}(?=</?+[Aa][{WS}/>]|\Z)")
_ANY_TAG = re.compile(rf"<(?:[^>=]++|=[{WS}]*+(?:\"[^\"]*+\"|'[^']*+')|=)*+>?")
# What a reader never sees inside a link: a comment whole (an unclosed one runs to the
# end), and the text of <style> and <script>. Conditional comments ("<!--[if mso]>")
# stay: Outlook shows what they hold, and their markers read as tags.
_HIDDEN = re.compile(
    rf"<!--(?!\[[Ii][Ff])(?:>|->|[\s\S]*?(?:--!?>|\Z))"
    rf"|<([Ss][Tt][Yy][Ll][Ee]|[Ss][Cc][Rr][Ii][Pp][Tt])(?=[{WS}/>])"
    rf"[\s\S]*?(?:</(?i:\1)(?=[{WS}/>])[^>]*+>?|\Z)"
)
_WS_CHARS: Final = "\t\n\f\r "
# A class list splits on HTML whitespace only (str.split would also split on U+00A0).
_WS_TO_SPACE: Final = str.maketrans("\t\n\f\r", "    ")

_OUR_NO_TRACK: Final = "data-clickgate-no-track"
_OUR_TAGS: Final = "data-clickgate-tags"
_POSTBOX_TAGS: Final = "postbox:tags"
_OTHER_NO_TRACK: Final = frozenset({"data-pm-no-track", "data-smtpd-no-track", "ses:no-track"})

Span = tuple[int, int]


def rewrite_html(html: str, session: LinkSession, *, enabled: bool) -> str:
    """Return html with tracked hrefs and our markers removed; all else byte-identical."""
    pieces: list[str] = []  # unchanged runs and replacements, joined once at the end
    last = 0
    # The loop body runs once per link tag: what it calls is looked up once, here, and
    # the common tag (no marker, href in double quotes) is handled inline, the way
    # _rewritten handles every other one.
    append = pieces.append
    known = session.destinations
    destination = session.destination
    add = session.add
    protect_visible_urls = session.protect_visible_urls
    one_text_run = _ONE_TEXT_RUN.match
    for tag in link_tags(without_foreign_cdata(html)):
        # Three span calls: Match.regs would build a pair for every group of the scan.
        tag_end = tag.end(END)
        if tag_end < 0:
            break  # the rest of the input holds no complete link tag
        name_start, name_end = tag.span(LINK)
        # Every marker name contains "track" or "tags"; most tags have neither, and the
        # scan already found their href.
        # A class written with a character reference ("un&#116;racked") is read there too.
        lowered = html[name_end:tag_end].lower()
        if "track" in lowered or "tags" in lowered or "&#" in lowered:
            edits = _marked_tag(
                html, name_end, tag_end, name_end - name_start == 1, session, enabled
            )
            for start, end, replacement in edits:
                pieces += (html[last:start], replacement)
                last = end
            continue
        start, end = tag.span(DOUBLE_QUOTED)
        if start >= 0:
            quote = '"'
        else:
            quote, (start, end) = _href_value(tag.regs)
            if start < 0:
                continue  # no href at all: "<a name=top>"
        found = html[start:end]
        if "&" in found:
            found = decode_attribute(found)
        if "\x00" in found:
            found = found.replace("\x00", "\ufffd")  # as the tokenizer reads it
        found = found.strip(C0_OR_SPACE)
        reason, url = known.get(found) or destination(found)
        # Only an <a> has text to read, and it is read only for a link that would be
        # tracked; _visible_text inline for its common case, one run of text.
        if reason is None and protect_visible_urls and name_end - name_start == 1:
            run = one_text_run(html, tag_end)
            text = _several_runs(html, tag_end) if run is None else run.group(1)
            if "&" in text:
                text = decode_text(text)
            if looks_like_url(text.strip()):
                reason = SKIP_VISIBLE_URL
        tracked = add(found, LOCATION_HTML, reason, url, enabled)
        if tracked is not None:
            append(html[last:start])
            append(encode_attribute(tracked, quote))
            last = end
    if not pieces:
        return html
    pieces.append(html[last:])
    return "".join(pieces)


def _href_value(spans: tuple[Span, ...]) -> tuple[str, Span]:
    """The quote and span of the scanned href's value; (-1, -1) when there is no href."""
    if spans[DOUBLE_QUOTED][0] >= 0:
        return '"', spans[DOUBLE_QUOTED]
    if spans[SINGLE_QUOTED][0] >= 0:
        return "'", spans[SINGLE_QUOTED]
    if spans[UNQUOTED][0] >= 0:
        return "", spans[UNQUOTED]
    end = spans[HREF][1]  # "<a href>": an empty value, relative to the page
    return "", (end, end) if end >= 0 else (-1, -1)


def _rewritten(
    html: str,
    start: int,
    end: int,
    quote: str,
    tag_end: int,
    is_anchor: bool,
    session: LinkSession,
    enabled: bool,
    opt_out: bool = False,
    tags: tuple[str, ...] = (),
) -> str | None:
    """Report the href value html[start:end]; return it tracked and escaped, or None."""
    found = html[start:end]
    if "&" in found:
        found = decode_attribute(found)
    if "\x00" in found:
        # The tokenizer turns NUL in an attribute value into U+FFFD, so it is no longer a
        # C0 control that URL parsing strips: "\x00https://..." is a relative link.
        found = found.replace("\x00", "\ufffd")
    found = found.strip(C0_OR_SPACE)
    reason, url = (SKIP_OPT_OUT, "") if opt_out else session.destination(found)
    # Only an <a> has text to read, and it is read only for a link that would be tracked.
    if (
        reason is None
        and is_anchor
        and session.protect_visible_urls
        and looks_like_url(_visible_text(html, tag_end))
    ):
        reason = SKIP_VISIBLE_URL
    tracked = session.add(found, LOCATION_HTML, reason, url, enabled, tags)
    return None if tracked is None else encode_attribute(tracked, quote)


def _marked_tag(
    html: str, name_end: int, tag_end: int, is_anchor: bool, session: LinkSession, enabled: bool
) -> list[Edit]:
    """A tag that may carry opt-out or tag markers: read every attribute."""
    href: re.Match[str] | None = None
    opt_out = seen_class = False
    tags: list[str] = []
    removals: list[tuple[int, int]] = []
    for attr in _ATTR.finditer(html, name_end, tag_end - 1):
        name = attr.group(1).lower()
        if name == "href":
            href = href or attr  # browsers keep the first of duplicate attributes
        elif name == "class" and not seen_class:  # a second class attribute is dropped
            seen_class = True
            classes = decode_attribute(_value(attr)).lower().translate(_WS_TO_SPACE).split(" ")
            opt_out = opt_out or "untracked" in classes
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
        group = next((g for g in (2, 3, 4) if href.start(g) >= 0), 0)
        start, end = href.span(group) if group else (href.end(), href.end())
        quote = _QUOTES[group - 2] if group else ""
        new = _rewritten(
            html, start, end, quote, tag_end, is_anchor, session, enabled, opt_out, tuple(tags)
        )
        if new is not None:
            edits.append((start, end, new))
            edits.sort()  # the href may come before or after the markers
    return edits


def _value(attr: re.Match[str]) -> str:
    return attr.group(2) or attr.group(3) or attr.group(4) or ""


def _parse_tags(value: str) -> list[str]:
    """ "key:value;key2:value2" -> ["key:value", "key2:value2"] (blanks dropped)."""
    return [part.strip() for part in value.split(";") if part.strip()]


def _removals(html: str, spans: list[tuple[int, int]], tag_end: int) -> list[Edit]:
    """Edits deleting marker attributes; neighbours with only whitespace between go as one."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and not html[merged[-1][1] : start].strip(_WS_CHARS):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    edits: list[Edit] = []
    for start, end in merged:
        after = end
        while after < tag_end and html[after] in _WS_CHARS:
            after += 1
        # '<a x data-clickgate-tags=k:v ="y">': without the marker, "y" would become the
        # value of x (or of a bare href). Such a marker stays, harmless, in the output.
        if html[after : after + 1] != "=":
            edits.append((*_widened(html, start, end, tag_end), ""))
    return edits


def _widened(html: str, start: int, end: int, tag_end: int) -> tuple[int, int]:
    """Widen a removal by the whitespace that would otherwise be left doubled.

    " attr " loses "attr " and " attr>" loses " attr"; with no whitespace before it (or
    before "/>", where "x=1/>" would glue the slash to an unquoted value, or after a
    lone "/", where "/>" would close an SVG element) only the attribute goes, so no
    neighbouring token is joined to another.
    """
    removed = _widened_by_space(html, start, end, tag_end)
    if html[removed[0] - 1] == "/" and html[removed[1]] == ">":
        # '"/marker>': a "/" glued to the marker goes with it, or "/>" would close an
        # SVG element that was open (in HTML a "/" before an attribute is no more than
        # a separator).
        return removed[0] - 1, removed[1]
    return removed


def _widened_by_space(html: str, start: int, end: int, tag_end: int) -> tuple[int, int]:
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
    if html[end] == ">" and html[before - 1] != "/":  # '/ >' must not become '/>'
        return before, end
    return start, end


def _visible_text(html: str, start: int) -> str:
    """Text a reader sees for the <a> whose content starts at `start`."""
    simple = _ONE_TEXT_RUN.match(html, start)
    content = _several_runs(html, start) if simple is None else simple.group(1)
    if "&" in content:
        content = decode_text(content)
    return content.strip()


def _several_runs(html: str, start: int) -> str:
    """The <a>'s content with the tags between its runs of text cut out (not decoded)."""
    close = _A_CONTENT_END.search(html, start)
    content = html[start : len(html) if close is None else close.start()]
    if "<!" in content or "<s" in content or "<S" in content:
        content = _HIDDEN.sub("", content)
    return _ANY_TAG.sub("", content)
