"""Shared pieces for the rewrite tests: a real minter, token opening, a quick rewrite."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, unquote_plus

from control.rewrite import RewriteOptions, RewriteResult, rewrite_message
from edge import token

KEY_ID: Final = 7
KEY: Final = bytes(range(32))
CLICK_BASE: Final = "https://click.example.com/"


def minter(url: str, index: int, location: str, tags: tuple[str, ...]) -> str:
    """The production token, as the API will mint it."""
    where = token.LOCATION_TEXT if location == "text" else token.LOCATION_HTML
    path = token.mint(
        KEY_ID, KEY, url, message_id="m-1", link_index=index, location=where, tags=tags
    )
    return CLICK_BASE + path


def opened(tracked_url: str) -> token.Opened:
    """Verify a tracked URL's token; fails the test if it does not open."""
    assert tracked_url.startswith(CLICK_BASE), tracked_url
    result = token.open_token(tracked_url[len(CLICK_BASE) :], {KEY_ID: KEY})
    assert result is not None, tracked_url
    return result


def rewrite(
    html: str | None = None, text: str | None = None, options: RewriteOptions | None = None
) -> RewriteResult:
    return rewrite_message(html, text, minter, options or RewriteOptions())


def html_of(result: RewriteResult) -> str:
    assert result.html is not None
    return result.html


def reasons(result: RewriteResult) -> list[str | None]:
    return [link.skip_reason for link in result.links]


def with_params(url: str, params: dict[str, str]) -> str:
    """Reference: append absent parameters before the fragment."""
    base, hash_mark, fragment = url.partition("#")
    _, question, query = base.partition("?")
    present = {unquote_plus(pair.split("=")[0]) for pair in query.split("&")} if question else set()
    extra = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items() if k not in present
    )
    if not extra:
        return url
    joiner = "?" if not question else "" if not query or query.endswith("&") else "&"
    return base + joiner + extra + hash_mark + fragment


def destination(original_url: str, params: dict[str, str]) -> str:
    """Where a tracked link must lead: tabs and newlines dropped, scheme added to www.,
    UTF-8 and space escapes, parameters."""
    url = re.sub(r"[\t\n\r]", "", original_url)
    url = "http://" + url if url[:4].lower() == "www." else url
    url = re.sub(r"[^\x00-\x7f]+", lambda m: quote(m.group(), safe=""), url)
    url = url.replace(" ", "%20")
    return with_params(url, params)
