"""HTML tokenizing for the rewriter: find live link tags, skip what browsers never render."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

WS: Final = r"\t\n\f\r "  # HTML whitespace; \s would also take U+00A0 and friends

# Possessive "?+" wherever nothing after the optional part can fail (the end of a loop
# turn, or a loop that always matches): it matches the same, and spares the engine a
# backtracking frame per use (a greedy "?" re-enters the rest of the pattern to keep the
# choice open). Never around a capture group: CPython 3.11 raises "The span of capturing
# group is wrong" for some of those; optional groups with captures are written (?:X|),
# the same as X? and cheaper than the repeat machinery "?" uses for a group.

# One attribute, per the tokenizer's attribute states. A quoted value with no closing
# quote runs to the end of input, as it does in a browser.
ATTR: Final = (
    rf"[^{WS}/>][^{WS}/>=]*+(?:[{WS}]*+=[{WS}]*+(?:\"[^\"]*+\"?+|'[^']*+'?+|[^{WS}>]++)?+)?+"
)
ATTRS: Final = rf"(?:[{WS}/]++|{ATTR})*+"


def _anycase(word: str) -> str:
    # [Ss][Cc]... rather than (?i:...): the engine's case-folding path is far slower.
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# Other start tags are read with ATTR's exact grammar, after a fast loop through the
# usual run of ' name="value"' pairs (one short loop turn per pair). That loop takes
# only pairs the tokenizer reads the same way: whitespace, a name that does not start
# with "=" (the tokenizer makes a leading "=" part of the name: <b ="x>"<a href=y> ends
# at the first ">", and its link is live), "=" and a double-quoted value. Anything else,
# such as an unquoted or single-quoted value or a bare attribute, is left to ATTRS from
# the end of the last such pair. The fast loop costs the scan about 2 % over the looser
# grammar it replaced, which read every "=" as the start of a value; ATTRS alone would
# cost about 30 %.
_FAST_PAIRS: Final = rf'(?:[{WS}]++[^{WS}/>=]++="[^"]*+"?+)*+'
# The rest of any other start tag, after its first letter. A tag with no attributes
# ("<td>", "<br>") takes the first branch and skips the attribute loops' set-up.
_OTHER_REST: Final = rf"[^{WS}/>]*+(?:>|{_FAST_PAIRS}{ATTRS}>?+)"


def _raw_rest(name: str) -> str:
    """After "<" and the name's first letter: the rest of a raw-text element, end tag excluded."""
    return rf"{_anycase(name[1:])}(?=[{WS}/>]){ATTRS}>?+(?:[^<]++|<(?!/{_anycase(name)}[{WS}/>]))*+"


def _script_rest() -> str:
    """After "<s": the rest of a <script>, end tag excluded, with the script data states.

    Script text may hide a "</script>" from the tokenizer: after "<!--" (the escaped
    state), a "<script" starts a double-escaped run, where "</script>" is text and leads
    back to the escaped state; "-->" in either state returns to plain script data. So
    "<script><!--<script></script><a href=x></script>" is all script.
    """
    name = _anycase("script")
    dashes = r"-++(?!>)|->"  # "--" and more before ">" end an escaped run; "->" does not
    escaped_text = rf"[^<-]++|{dashes}|<(?!/?+{name}[{WS}/>])"
    double_escaped = rf"<{name}(?=[{WS}/>])(?:[^<-]++|{dashes}|<(?!/{name}[{WS}/>]))*+"
    escaped = rf"(?:-*+>|(?:{escaped_text}|{double_escaped}(?:</{name}|))*+(?:--++>|))"
    return (
        rf"{name[4:]}(?=[{WS}/>]){ATTRS}>?+"
        rf"(?:[^<]++|<!--{escaped}|<(?!/{name}[{WS}/>]))*+"
    )


# Start tags by first letter: the letters that can start an element whose content is
# never markup try those elements first, then read as any other tag; every other letter
# goes straight to the other-tag grammar, and "a", "area" and "v:" are left for the link
# tag. One branch per tag: an alternative the engine enters and leaves costs about as
# much as reading a short tag. Each raw-text element is spelled out with its own end
# tag: a backreference to the name inside the possessive loop trips a CPython 3.11 re bug
# ("span of capturing group is wrong").
# (Single-character negations such as [^<]*+ run far faster in the re engine than any
# other class, which is why text is consumed with one right after each construct.)
_START_TAG: Final = (
    rf"[Tt](?:{_raw_rest('textarea')}|{_raw_rest('title')}|{_OTHER_REST})"
    rf"|[Ss](?:{_script_rest()}|{_raw_rest('style')}|{_OTHER_REST})"
    rf"|[Ii](?:{_raw_rest('iframe')}|{_OTHER_REST})"
    rf"|[Pp](?:{_anycase('laintext')}(?=[{WS}/>])[\s\S]*+|{_OTHER_REST})"
    rf"|[Nn](?:{_raw_rest('noembed')}|{_raw_rest('noframes')}|{_OTHER_REST})"
    rf"|[Xx](?:{_raw_rest('xmp')}|{_OTHER_REST})"
    rf"|[B-HJ-MOQRUWYZb-hj-moqruwyz]{_OTHER_REST}"
    rf"|(?:[Aa](?![{WS}/>]|[Rr][Ee][Aa][{WS}/>])|[Vv](?!:)){_OTHER_REST}"
)

# The first href of a link tag, every other attribute read whole first, so neither
# "data-href" nor a title that mentions "href=" can match. The value groups follow ATTR's
# value grammar exactly (an unclosed quote runs to the end), so a tag reads the same with
# or without this part; it only names the value's span. Absent when the tag has no href.
_HREF: Final = (
    rf"(?:[{WS}/]++|(?![Hh][Rr][Ee][Ff](?![^{WS}/>=])){ATTR})*+"
    rf"(?P<href>[Hh][Rr][Ee][Ff])(?![^{WS}/>=])"
    rf"(?:[{WS}]*+=[{WS}]*+(?:\"(?P<dq>[^\"]*+)\"?+|'(?P<sq>[^']*+)'?+|(?P<uq>[^{WS}>]*+))|)"
)

# An end tag ("</td>") reads its attributes as a start tag would, so a quoted ">" in one
# does not end it; one with no quote takes the first, short branch, and "</" followed by
# anything but a letter is a bogus comment that ends at the first ">".
# One regex consumes everything that cannot hold a link, inside the regex engine: text,
# ordinary comments, raw-text elements, end tags, doctype and bogus comments (which
# include "<![endif]-->" and, outside SVG and MathML, "<![CDATA[" up to the first ">"),
# and every other start tag with its attributes, so "<img alt='<a href=x>'>" stays
# inert. It stops only after a link tag (<a>, <area>, VML <v:*>) or at the end of
# input. "<!--[if mso]>" is consumed as an opener only: Outlook renders what follows
# it, so the scan goes on inside the conditional block.
_SCAN = re.compile(
    rf"""[^<]*+
    (?:<(?:
          /(?:[^>"']*+>|[A-Za-z][^{WS}/>]*+{ATTRS}>?+|[^>]*+>?+)
        | {_START_TAG}
        | !--\[[Ii][Ff][^\]>]*+\]>
        | !--(?:>|->|(?:[^-]++|-(?!-!?>))*+(?:--!?>)?)
        | [!?][^>]*+>?
        | (?![A-Za-z!/?])
    )[^<]*+)*+
    (?:<(?P<link>[Aa]|[Aa][Rr][Ee][Aa]|[Vv]:[^{WS}/>]*+)(?=[{WS}/>]|\Z)(?:{_HREF}|){ATTRS}(?:(?P<end>>)|)|)""",
    re.VERBOSE,
)

# Group numbers of a link tag's spans, for Match.span and Match.regs.
LINK: Final = _SCAN.groupindex["link"]
HREF: Final = _SCAN.groupindex["href"]
DOUBLE_QUOTED: Final = _SCAN.groupindex["dq"]
SINGLE_QUOTED: Final = _SCAN.groupindex["sq"]
UNQUOTED: Final = _SCAN.groupindex["uq"]
END: Final = _SCAN.groupindex["end"]


def link_tags(html: str) -> Iterator[re.Match[str]]:
    """Every <a>, <area> and <v:*> start tag a browser or Outlook would see, in order.

    Each match runs from the end of the previous one to just after a link tag's ">".
    The last match has no END group: it consumed the rest of the input (a cut-off tag
    is dropped); stop there.
    """
    # finditer, not a loop over match(): the engine goes from tag to tag without
    # returning to Python in between.
    return _SCAN.finditer(html)


# Inside <svg> and <math> (foreign content), "<![CDATA[" opens a real CDATA section,
# text up to "]]>"; elsewhere it is a bogus comment ending at the first ">", which is how
# _SCAN reads it everywhere. Foreign elements' start and end tags, and those sections:
_FOREIGN_OR_CDATA = re.compile(
    rf"<(/?+)([Ss][Vv][Gg]|[Mm][Aa][Tt][Hh])(?=[{WS}/>])[^>]*+>?|<!\[CDATA\["
)
_CDATA_END = re.compile(r"\]\]>")


def without_foreign_cdata(html: str) -> str:
    """html with every CDATA section inside <svg> or <math> blanked, same length.

    For link_tags only (spans stay valid in the original): an "href" written inside such
    a section is text, and a "<!--" or "<style>" in one starts nothing. Approximate, as
    foreign content is a tree builder's notion: nesting is counted by <svg>/<math> tags
    alone (HTML tags that break out of foreign content are not), and the tags are found
    outside comments as well. Mail almost never holds such sections: a document without
    "<![CDATA[" is returned as it is, at the cost of one search.
    """
    if "<![CDATA[" not in html:
        return html
    pieces: list[str] = []
    last = depth = 0
    for found in _FOREIGN_OR_CDATA.finditer(html):
        if found.start() < last:
            continue  # inside a section blanked already
        if found.group(2) is None:  # "<![CDATA["
            if depth:
                end = _CDATA_END.search(html, found.end())
                stop = len(html) if end is None else end.end()
                pieces += (html[last : found.start()], " " * (stop - found.start()))
                last = stop
        elif found.group(1):
            depth = max(depth - 1, 0)
        elif not found.group().endswith("/>"):  # <svg/> is empty in foreign content
            depth += 1
    if not pieces:
        return html
    pieces.append(html[last:])
    return "".join(pieces)


class RegexEngineBroken(RuntimeError):
    """This Python's re module mis-runs the scan: it would find no links at all."""


def check_engine() -> None:
    """Refuse to run on a regex engine that gets possessive quantifiers wrong.

    CPython 3.11.0 to 3.11.4 mis-match a possessive repeat around a lookahead or a
    backtracking subpattern (python/cpython#100061, #106052; fixed in 3.11.5), and Debian
    12's python3.11 (3.11.2) still does: there the scan reads every link tag as an
    ordinary tag, and a rewrite would silently track nothing. Checked once, at import.
    """
    found = [m.group(LINK) for m in link_tags('<p class="x"><a href="https://e.com/">x</a>')]
    if found[:1] != ["a"]:
        raise RegexEngineBroken(
            "this Python's re module mis-matches possessive quantifiers (CPython before "
            "3.11.5, python/cpython#106052), so link rewriting would find no links; "
            "run clickgate on CPython 3.11.5 or later"
        )


check_engine()
