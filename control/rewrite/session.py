"""Per-message link decisions: checks in a fixed order, numbering, the limit, the report."""

from __future__ import annotations

from collections.abc import Callable

from control.rewrite.model import (
    SKIP_ALREADY_TRACKED,
    SKIP_DISABLED,
    SKIP_LIMIT,
    SKIP_MALFORMED,
    SKIP_OPT_OUT,
    SKIP_VISIBLE_URL,
    LinkReport,
    Minter,
    RewriteOptions,
)
from control.rewrite.urls import (
    append_params,
    check_link,
    encode_params,
    is_click_host,
    looks_like_url,
    normalize_hosts,
)


class LinkSession:
    """Numbers every link found in a message and decides, once, what happens to it."""

    __slots__ = (
        "_click_hosts",
        "_destinations",
        "_max_links",
        "_mint",
        "_params",
        "_prefix_www",
        "_protect_visible",
        "_tracked",
        "links",
    )

    def __init__(self, mint: Minter, options: RewriteOptions) -> None:
        self._mint = mint
        self._prefix_www = options.prefix_www
        self._protect_visible = options.protect_visible_urls
        self._max_links = options.max_links
        self._params = encode_params(options.url_params)
        self._click_hosts = normalize_hosts(options.click_hosts)
        self._tracked = 0
        # A template repeats its links (product image and button go to one page), and what
        # a link's text implies is a pure function of it: work it out once per message.
        self._destinations: dict[str, tuple[str | None, str]] = {}
        self.links: list[LinkReport] = []

    def link(
        self,
        found: str,
        location: str,
        enabled: bool,
        opt_out: bool = False,
        tags: tuple[str, ...] = (),
        visible_text: Callable[[], str] | None = None,
    ) -> str | None:
        """Record one link; return its tracked URL, or None to leave it untouched.

        Checks run in a fixed order, so a link has one stable reason. `visible_text` is
        called only when every cheaper check passed: most links never need it.
        """
        index = len(self.links)
        tracked: str | None = None
        reason: str | None = SKIP_OPT_OUT
        if not opt_out:
            destination = self._destinations.get(found)
            if destination is None:
                destination = self._destinations[found] = self._destination(found)
            reason, url = destination
            if reason is None:
                reason = self._held_back(enabled, visible_text)
            if reason is None:
                tracked = self._mint_one(url, index, location, tags)
                if tracked is None:
                    reason = SKIP_MALFORMED  # the minter refused it (too long, unsafe, ...)
        self.links.append(LinkReport(index, location, found, tracked, reason))
        return tracked

    def _held_back(self, enabled: bool, visible_text: Callable[[], str] | None) -> str | None:
        """Why a trackable link is still not tracked here, if it is not."""
        if visible_text and self._protect_visible and looks_like_url(visible_text()):
            return SKIP_VISIBLE_URL
        if not enabled:
            return SKIP_DISABLED
        if self._tracked >= self._max_links:
            return SKIP_LIMIT
        return None

    def _destination(self, found: str) -> tuple[str | None, str]:
        """(skip reason, "") for a link that stays, or (None, URL to put in the token)."""
        checked = check_link(found, self._prefix_www)
        if isinstance(checked, str):
            return checked, ""
        if self._click_hosts and is_click_host(checked.host, self._click_hosts):
            return SKIP_ALREADY_TRACKED, ""
        return None, append_params(checked.url, self._params)

    def _mint_one(self, url: str, index: int, location: str, tags: tuple[str, ...]) -> str | None:
        try:
            tracked = self._mint(url, index, location, tags)
        except ValueError:
            return None
        self._tracked += 1
        return tracked
