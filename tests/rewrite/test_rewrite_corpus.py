"""The template corpus: every link's fate pinned, checked against lxml, byte-exact output.

Each corpus/<name>.html or .txt has corpus/<name>.links.json: one [location, skip reason
or "tracked", original URL] per link, reviewed by hand. Regenerate after a deliberate
change with CLICKGATE_UPDATE_CORPUS=1 and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Final

import pytest
from bs4 import BeautifulSoup, Comment, Tag

from control.rewrite import RewriteOptions, RewriteResult, rewrite_message
from tests.rewrite.helpers import destination, minter, opened
from tests.rewrite.make_corpus import generated

CORPUS: Final = Path(__file__).parent / "corpus"
TEMPLATES: Final = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".html", ".txt"))
OPTIONS: Final = RewriteOptions(
    prefix_www=True,
    url_params={"utm_source": "clickgate"},
    click_hosts=frozenset({"click.example.com"}),
)
# Loose on purpose: it masks every href-looking value, live or dead, in input and output.
_ANY_HREF_VALUE = re.compile(r"""(?i)(\bhref\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""")
_OUR_MARKER = re.compile(r"""\s+data-clickgate-(?:no-track|tags)(?:="[^"]*")?""")


def rewrite_template(name: str) -> tuple[str, RewriteResult]:
    source = (CORPUS / name).read_bytes().decode()  # bytes: keep CRLF as CRLF
    if name.endswith(".html"):
        return source, rewrite_message(source, None, minter, OPTIONS)
    return source, rewrite_message(None, source, minter, OPTIONS)


def test_corpus_is_there() -> None:
    assert len([t for t in TEMPLATES if t.endswith(".html")]) >= 8
    assert len([t for t in TEMPLATES if t.endswith(".txt")]) >= 2


def test_line_endings_survived_the_checkout() -> None:
    assert (CORPUS / "legacy_uppercase_crlf.html").read_bytes().count(b"\r\n") > 20
    assert b"\r\n" in (CORPUS / "receipt.txt").read_bytes()


def test_generated_templates_match_their_generator() -> None:
    for name, html in generated().items():
        assert (CORPUS / name).read_bytes().decode() == html, f"run make_corpus for {name}"


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_link_has_its_pinned_fate(name: str) -> None:
    _, result = rewrite_template(name)
    found = [
        [link.location, link.skip_reason or "tracked", link.original_url] for link in result.links
    ]
    golden = CORPUS / f"{name}.links.json"
    if os.environ.get("CLICKGATE_UPDATE_CORPUS") == "1":
        lines = ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in found)
        golden.write_text(f"[\n{lines}\n]\n", encoding="utf-8")
    assert found == json.loads(golden.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", TEMPLATES)
def test_tracked_links_open_to_their_destination(name: str) -> None:
    _, result = rewrite_template(name)
    for link in result.links:
        if link.tracked_url is None:
            continue
        token = opened(link.tracked_url)
        assert token.body.link_index == link.index
        assert token.body.location == (0 if link.location == "html" else 1)
        assert token.url == destination(link.original_url, OPTIONS.url_params)


@pytest.mark.parametrize("name", [t for t in TEMPLATES if t.endswith(".html")])
def test_links_found_are_the_links_lxml_sees(name: str) -> None:
    source, result = rewrite_template(name)
    ours = Counter(link.original_url for link in result.links)
    assert ours == Counter(_links_per_lxml(source))


def _links_per_lxml(html: str) -> list[str]:
    """hrefs of <a>, <area> and <v:*> per BeautifulSoup+lxml, Outlook blocks re-parsed."""
    soup = BeautifulSoup(html, "lxml")
    found = _hrefs(soup)
    for comment in soup.find_all(string=lambda node: isinstance(node, Comment)):
        if comment.startswith("[if"):
            found += _hrefs(BeautifulSoup(comment, "lxml"))
    return found


def _hrefs(soup: BeautifulSoup) -> list[str]:
    def is_link(tag: Tag) -> bool:
        return tag.name in ("a", "area") or tag.name.startswith("v:")

    hrefs = [tag.get("href") for tag in soup.find_all(is_link)]
    return [href.strip(" \t\n\r\f") for href in hrefs if isinstance(href, str)]


@pytest.mark.parametrize("name", [t for t in TEMPLATES if t.endswith(".html")])
def test_only_href_values_and_our_markers_change(name: str) -> None:
    source, result = rewrite_template(name)
    assert result.html is not None
    before = _ANY_HREF_VALUE.sub(r"\1@", _OUR_MARKER.sub("", source))
    after = _ANY_HREF_VALUE.sub(r"\1@", result.html)
    assert after == before
    assert "data-clickgate-" not in result.html
    for link in result.links:
        if link.tracked_url is not None:
            assert link.tracked_url in result.html  # our tokens need no escaping


@pytest.mark.parametrize("name", [t for t in TEMPLATES if t.endswith(".txt")])
def test_text_changes_only_at_tracked_urls(name: str) -> None:
    source, result = rewrite_template(name)
    assert result.text is not None
    rebuilt = result.text
    for link in result.links:
        if link.tracked_url is not None:
            rebuilt = rebuilt.replace(link.tracked_url, link.original_url, 1)
    assert rebuilt == source
