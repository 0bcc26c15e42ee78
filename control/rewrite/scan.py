"""HTML tokenizing for the rewriter: find live link tags, skip what browsers never render."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

WS: Final = r"\t\n\f\r "  # HTML whitespace; \s would also take U+00A0 and friends
# One attribute, per the tokenizer's attribute states. A quoted value with no closing
# quote runs to the end of input, as it does in a browser.
ATTR: Final = rf"[^{WS}/>][^{WS}/>=]*+(?:[{WS}]*+=[{WS}]*+(?:\"[^\"]*+\"?|'[^']*+'?|[^{WS}>]++)?)?"
ATTRS: Final = rf"(?:[{WS}/]++|{ATTR})*+"


def _anycase(word: str) -> str:
    # [Ss][Cc]... rather than (?i:...): the engine's case-folding path is far slower.
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# Other start tags are skipped with a leaner grammar than ATTR: a quote opens a value
# only right after "=" (so a typo like width=100" cannot swallow the rest of the page),
# one loop turn per value. It parts from the tokenizer only on "=" followed by a quote
# inside an unquoted value, a parse error no real template relies on; link tags
# themselves are read with the exact grammar.
#
# The first loop is only a faster way through the usual run of name="value" pairs (one
# simple loop turn per pair); it consumes exactly what the second would, and where a
# pair has another form the second takes over from the end of the last such pair.
_SKIP_ATTRS: Final = (
    r'(?:[^>=]*+="[^"]*+"?)*+'
    rf"[^>=]*+(?:=[{WS}]*+(?:\"[^\"]*+\"?|'[^']*+'?)?[^>=]*+)*+"
)


def _raw_rest(name: str) -> str:
    """After "<" and the name's first letter: the rest of a raw-text element, end tag excluded."""
    return rf"{_anycase(name[1:])}(?=[{WS}/>]){ATTRS}>?(?:[^<]++|<(?!/{_anycase(name)}[{WS}/>]))*+"


# Elements whose content is never markup, grouped by first letter so the common tags
# (td, tr, span, img, p) are turned away after a character or two. Each is spelled out
# with its own end tag: a backreference to the name inside the possessive loop trips a
# CPython 3.11 re bug ("span of capturing group is wrong").
_RAW: Final = (
    rf"[Ss](?:{_raw_rest('script')}|{_raw_rest('style')})"
    rf"|[Tt](?:{_raw_rest('textarea')}|{_raw_rest('title')})"
    rf"|[Xx]{_raw_rest('xmp')}|[Ii]{_raw_rest('iframe')}"
    rf"|[Nn](?:{_raw_rest('noembed')}|{_raw_rest('noframes')})"
    rf"|[Pp]{_anycase('laintext')}(?=[{WS}/>])[\s\S]*+"
)

# Start of any tag that is not a link tag: no lookahead at all for the common letters.
# (Single-character negations such as [^<]*+ run far faster in the re engine than any
# other class, which is why text is consumed with one right after each construct.)
_OTHER_TAG: Final = rf"(?:[B-UW-Zb-uw-z]|[Aa](?![{WS}/>]|[Rr][Ee][Aa][{WS}/>])|[Vv](?!:))"

# The first href of a link tag, every other attribute read whole first, so neither
# "data-href" nor a title that mentions "href=" can match. The value groups follow ATTR's
# value grammar exactly (an unclosed quote runs to the end), so a tag reads the same with
# or without this part; it only names the value's span. Absent when the tag has no href.
_HREF: Final = (
    rf"(?:[{WS}/]++|(?![Hh][Rr][Ee][Ff](?![^{WS}/>=])){ATTR})*+"
    rf"(?P<href>[Hh][Rr][Ee][Ff])(?![^{WS}/>=])"
    rf"(?:[{WS}]*+=[{WS}]*+(?:\"(?P<dq>[^\"]*+)\"?|'(?P<sq>[^']*+)'?|(?P<uq>[^{WS}>]*+)))?"
)

# One regex consumes everything that cannot hold a link, inside the regex engine: text,
# ordinary comments, raw-text elements, CDATA, end tags, doctype and bogus comments
# (which include "<![endif]-->"), and every other start tag with its attributes, so
# "<img alt='<a href=x>'>" stays inert. It stops only after a link tag (<a>, <area>, VML
# <v:*>) or at the end of input. "<!--[if mso]>" is consumed as an opener only: Outlook
# renders what follows it, so the scan goes on inside the conditional block.
_SCAN = re.compile(
    rf"""[^<]*+
    (?:<(?:
          /[^>]*+>?
        | !--\[[Ii][Ff][^\]>]*+\]>
        | !--(?:>|->|(?:[^-]++|-(?!-!?>))*+(?:--!?>)?)
        | !\[CDATA\[(?:[^\]]++|\](?!\]>))*+(?:\]\]>)?
        | [!?][^>]*+>?
        | {_RAW}
        | {_OTHER_TAG}[^{WS}/>]*+{_SKIP_ATTRS}>?
        | (?![A-Za-z!/?])
    )[^<]*+)*+
    (?:<(?P<link>[Aa]|[Aa][Rr][Ee][Aa]|[Vv]:[^{WS}/>]*+)(?=[{WS}/>]|\Z)(?:{_HREF})?{ATTRS}(?P<end>>)?)?""",
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
