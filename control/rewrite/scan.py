"""HTML tokenizing for the rewriter: find live link tags, skip what browsers never render."""

from __future__ import annotations

import re
from typing import Final

WS: Final = r"\t\n\f\r "  # HTML whitespace; \s would also take U+00A0 and friends
# One attribute, per the tokenizer's attribute states. A quoted value with no closing
# quote runs to the end of input, as it does in a browser.
ATTR: Final = (
    rf"[^{WS}/>][^{WS}/>=]*+(?:[{WS}]*+=[{WS}]*+(?:\"[^\"]*+\"?|'[^']*+'?|[^{WS}>]++)?)?"
)
ATTRS: Final = rf"(?:[{WS}/]++|{ATTR})*+"
_LINK_TAG: Final = rf"(?:[Aa]|[Aa][Rr][Ee][Aa]|[Vv]:[^{WS}/>]+)(?=[{WS}/>])"
_RAW_TAG: Final = (
    rf"(?i:script|style|textarea|title|xmp|iframe|noembed|noframes|plaintext)(?=[{WS}/>])"
)

# Everything that cannot hold a link is consumed inside the regex engine (text, other
# tags with their attributes, end tags, doctype and bogus comments such as
# "<![endif]-->"); the match stops at the next construct that needs Python's attention.
# Skipping whole tags, not just looking for "<a", keeps "<img alt='<a href=x>'>" inert.
_SCAN = re.compile(
    rf"""(?:
        [^<]++
      | <(?=[A-Za-z])(?!{_LINK_TAG}|{_RAW_TAG})[^{WS}/>]++{ATTRS}>?
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
_TAG_REST = re.compile(rf"{ATTRS}>")
_CONDITIONAL_OPEN = re.compile(r"\[if[^\]>]*\]>", re.IGNORECASE)
_COMMENT_END = re.compile(r"--!?>")
_CDATA_END: Final = "]]>"
_RAW_ENDS: dict[str, re.Pattern[str]] = {}

LinkTag = tuple[int, int, int]  # (index of "<", end of the tag name, index after ">")


def link_tags(html: str) -> list[LinkTag]:
    """Every <a>, <area> and <v:*> start tag a browser or Outlook would see, in order."""
    found: list[LinkTag] = []
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


def _after_raw_text(html: str, pos: int, name: str) -> int:
    """Skip a <script>-like element: nothing inside it up to its end tag is markup."""
    rest = _TAG_REST.match(html, pos)
    name = name.lower()
    if rest is None or name == "plaintext":
        return len(html)
    end_tag = _RAW_ENDS.get(name)
    if end_tag is None:
        end_tag = _RAW_ENDS.setdefault(name, re.compile(rf"</{name}(?=[{WS}/>])", re.I))
    found = end_tag.search(html, rest.end())
    return len(html) if found is None else found.start()
