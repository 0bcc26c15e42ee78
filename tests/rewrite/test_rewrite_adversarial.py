"""Hostile input: every pattern stays linear, so no message can stall the rewriter."""

from __future__ import annotations

import time

import pytest

from control.rewrite import RewriteOptions, rewrite_message
from tests.rewrite.helpers import minter

N = 50_000  # repetitions: a quadratic pattern would need minutes, linear ones take ms

HOSTILE_HTML = {
    "unclosed link tags": '<a href="https://e.com/" ' * N,
    "unclosed anchors": '<a href="https://e.com/x">x' * (N // 10),
    "unclosed comments": "<!--" * N,
    "conditional openers": "<!--[if mso]>" * N,
    "unclosed script": "<script>" + "<a href=x>" * N,
    "unterminated quote": '<img alt="' + "<a href=x>" * N,
    "many references": '<a href="https://e.com/?' + "&amp;&copy&#x26;&bogus;" * N + '">x</a>',
    "long visible label": '<a href="https://e.com/">' + "a-" * N + ".</a>",
    "dotted visible text": '<a href="https://e.com/">' + "a." * N + "</a>",
    "placeholder openers": '<a href="https://e.com/' + "{{*|[[{%%%" * N + '">x</a>',
    "long url": '<a href="https://e.com/' + "a/" * N + '">x</a>',
    "angle soup": "<<<!<?</" * N,
    "stray angle before links": "<<a href=https://e.com/x>" * (N // 2),
    "attribute soup": "<p " + "a=b='c' d=\"e\" " * N + ">",
}
HOSTILE_TEXT = {
    "closing brackets": "https://e.com/" + ")" * N,
    "punctuation tail": "https://e.com/" + ".,;:!?" * N,
    "placeholder openers": "https://e.com/" + "{{*|[[" * N,
    "spaced placeholder openers": "https://e.com/" + ("{{ " + "a" * 190) * (N // 20),
    "unclosed spaced tags": "https://e.com/" + "{% x " * N,
    "many urls": "https://e.com/a " * (N // 5),
    "scheme soup": "https://" * N,
}


def refuse(url: str, index: int, location: str, tags: tuple[str, ...]) -> str:
    raise ValueError("no minting: this test times the scanner")


@pytest.mark.parametrize("name", sorted(HOSTILE_HTML))
def test_hostile_html_is_linear(name: str) -> None:
    html = HOSTILE_HTML[name]
    began = time.perf_counter()
    result = rewrite_message(html, None, refuse, RewriteOptions(max_links=10))
    assert time.perf_counter() - began < 5, name
    assert result.html == html or "data-clickgate" in html


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXT))
def test_hostile_text_is_linear(name: str) -> None:
    text = HOSTILE_TEXT[name]
    began = time.perf_counter()
    result = rewrite_message(None, text, refuse, RewriteOptions(max_links=10))
    assert time.perf_counter() - began < 5, name
    assert result.text == text


def test_the_limit_bounds_minting_work() -> None:
    html = '<a href="https://e.com/x">x</a>' * 20_000
    result = rewrite_message(html, None, minter, RewriteOptions())
    tracked = [link for link in result.links if link.tracked_url is not None]
    assert len(tracked) == 1000
    assert {link.skip_reason for link in result.links[1000:]} == {"limit"}
