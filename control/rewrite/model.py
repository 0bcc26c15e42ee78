"""Types of the link rewriter's interface: options, per-link report, result, minter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

LOCATION_HTML: Final = "html"
LOCATION_TEXT: Final = "text"

# Stable skip codes: API clients match on these strings, so never rename one.
SKIP_OPT_OUT: Final = "opt_out"
SKIP_SCHEME: Final = "scheme"
SKIP_PLACEHOLDER: Final = "placeholder"
SKIP_MALFORMED: Final = "malformed"
SKIP_VISIBLE_URL: Final = "visible_url"
SKIP_ALREADY_TRACKED: Final = "already_tracked"
SKIP_LIMIT: Final = "limit"
SKIP_DISABLED: Final = "disabled"  # tracking switched off for this body (track_html/track_text)
SKIP_TAGS: Final = "tags"  # the link's tags, with its message's, are more than a token carries
SKIP_TOO_LONG: Final = "too_long"  # the destination, url_params added, is more than edges take
SKIP_REASONS: Final = (
    SKIP_OPT_OUT,
    SKIP_SCHEME,
    SKIP_PLACEHOLDER,
    SKIP_MALFORMED,
    SKIP_VISIBLE_URL,
    SKIP_ALREADY_TRACKED,
    SKIP_LIMIT,
    SKIP_DISABLED,
    SKIP_TAGS,
    SKIP_TOO_LONG,
)

# mint(destination_url, index, location, tags) -> tracked URL. May raise ValueError for a
# destination it refuses; the link is then reported "malformed" and left untouched.
Minter = Callable[[str, int, str, tuple[str, ...]], str]


class TagsRefused(ValueError):
    """Raised by a minter for link tags it cannot carry: the link is left untouched and
    reported "tags" (a link whose token grew past what edges accept would be broken)."""


class UrlTooLong(ValueError):
    """Raised by a minter for a destination longer than edges redirect to: the link is
    left untouched and reported "too_long" (url_params can push a long link over)."""


class LinkReport(msgspec.Struct):
    """What the rewriter did with one link, in document order (html first, then text)."""

    index: int
    location: str
    original_url: str
    tracked_url: str | None
    skip_reason: str | None


class RewriteOptions(msgspec.Struct):
    """Per-message rewriting switches; a stream's defaults are resolved before this."""

    track_html: bool = True
    track_text: bool = True
    prefix_www: bool = False
    protect_visible_urls: bool = True
    max_links: int = 1000
    url_params: dict[str, str] = {}
    click_hosts: frozenset[str] = frozenset()


class RewriteResult(msgspec.Struct):
    """The rewritten bodies (None where none was given) and one report per link found."""

    html: str | None
    text: str | None
    links: list[LinkReport]
