"""Differential test: the links the rewriter finds are the links a browser's parser finds.

html5lib implements the WHATWG tokenizer and tree builder (character references,
raw-text and script-data states, bogus comments, duplicate attributes). Random tag
soup built from the pieces that trip rewriters is parsed by both; every href of an
<a>, <area> or VML element html5lib builds must be reported by the rewriter, and
nothing else. Compared as sets: the tree builder may clone an <a> (adoption agency)
or move it out of a table, which changes neither which links exist nor their values.

Left out on purpose, where the rewriter differs from a browser by design:
Outlook's conditional comments (scanned inside, as Outlook renders them), <svg> and
<math> (their <style> and <script> are markup to a browser, skipped here: such a
link is left untracked, never broken), and <select> and <frameset>, whose tree
builder drops tags the tokenizer saw.
"""

from __future__ import annotations

import html5lib
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from control.rewrite import RewriteOptions
from control.rewrite.urls import C0_OR_SPACE
from tests.rewrite.helpers import rewrite

URLS = [f"https://e.com/{n}" for n in range(6)]
# Link tags, each with a different destination so a missed or invented one shows.
LINK_TAGS = st.sampled_from(
    [
        '<a href="{u}">',
        "<a href='{u}'>",
        "<a href={u}>",
        '<A HREF = "{u}">',
        '<area shape=rect href="{u}">',
        '<a title="href={u}x" href="{u}">',
        '<a href="{u}" href="https://e.com/second">',
        '<a data-href="{u}x">',
        '<a class=untracked href="{u}">',
        '<a href="{u}?a=1&amp;b=2&copy=3&amp">',
        '<v:roundrect href="{u}">',
        '<a\nhref\n=\n"{u}"\n/>',
        '<a href="{u}',  # an unclosed quote runs to the end, or to the next quote
        "<a href={u}/>",
        '<a href="\x00{u}">',
    ]
)
PIECES = st.sampled_from(
    [
        # raw text and RCDATA elements, and their end tags
        "<script>",
        "<SCRIPT type=x>",
        "</script>",
        "</script >",
        "</SCRIPT/>",
        "<style>",
        "</style>",
        "<textarea>",
        "</textarea>",
        "<title>",
        "</title>",
        "<xmp>",
        "</xmp>",
        "<iframe>",
        "</iframe>",
        "<noembed>",
        "</noembed>",
        "<noframes>",
        "</noframes>",
        "<noscript>",
        "</noscript>",
        # comments and their near misses
        "<!--",
        "-->",
        "--!>",
        "<!-->",
        "<!--->",
        "->",
        "-",
        "<!",
        "<?",
        "</",
        "<!DOCTYPE html>",
        "<![endif]-->",
        "<![CDATA[",
        "]]>",
        # other tags, well and badly formed
        "<p>",
        "</p>",
        "<br/>",
        "<b>",
        "</a>",
        "</A>",
        "<table>",
        '<td width=100">',
        '<img alt="',
        "<img alt='a>b'>",
        '</p title="a>b">',
        # a leading "=" is part of an attribute's name, not the start of a value
        '<b ="',
        "<p ='",
        " =",
        "/=",
        '<td a=b="x',
        "<div class='x'>",
        "<abbr>",
        "<areax>",
        "<sc",
        # text, entities and lone delimiters
        "x",
        " ",
        "\n",
        "<",
        ">",
        '"',
        "'",
        "=",
        "/",
        "&amp;",
        "&",
        "&lt;",
        "&quot",
    ]
)


def browser_links(document: str) -> set[str]:
    """Every link destination a spec-conforming parser builds an element for."""
    tree = html5lib.parse(document, treebuilder="etree", namespaceHTMLElements=False)
    found = set()
    for element in tree.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue  # comments
        if tag in ("a", "area") or tag.startswith("v:"):
            href = element.get("href")
            if href is not None:
                found.add(href.strip(C0_OR_SPACE))
    return found


def rewriter_links(document: str) -> set[str]:
    result = rewrite(document, options=RewriteOptions(protect_visible_urls=False))
    return {link.original_url for link in result.links}


@st.composite
def soups(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 24))):
        if draw(st.integers(0, 3)) == 0:
            parts.append(draw(LINK_TAGS).format(u=draw(st.sampled_from(URLS))))
        else:
            parts.append(draw(PIECES))
    return "".join(parts)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(soups())
@example('<script><!--<script></script><a href="https://e.com/1"></script>')
@example('<script><!--<script>--><a href="https://e.com/1"></script>')
def test_the_rewriter_finds_the_links_a_browser_parser_finds(document: str) -> None:
    assert rewriter_links(document) == browser_links(document), repr(document)
