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
    Destination,
    append_params,
    check_link,
    encode_params,
    is_click_host,
    looks_like_url,
    normalize_hosts,
)


class LinkSession:
    """Numbers every link found in a message and decides, once, what happens to it."""

    __slots__ = ("_click_hosts", "_mint", "_options", "_params", "_tracked", "links")

    def __init__(self, mint: Minter, options: RewriteOptions) -> None:
        self._mint = mint
        self._options = options
        self._params = encode_params(options.url_params)
        self._click_hosts = normalize_hosts(options.click_hosts)
        self._tracked = 0
        self.links: list[LinkReport] = []

    def link(
        self,
        found: str,
        location: str,
        *,
        enabled: bool,
        opt_out: bool = False,
        tags: tuple[str, ...] = (),
        visible_text: Callable[[], str] | None = None,
    ) -> str | None:
        """Record one link; return its tracked URL, or None to leave it untouched.

        `visible_text` is called only when every cheaper check passed: extracting the
        text of an <a> costs a search, and most skipped links never need it.
        """
        index = len(self.links)
        checked = self._check(found, opt_out, visible_text)
        tracked: str | None = None
        if isinstance(checked, str):
            reason: str | None = checked
        elif not enabled:
            reason = SKIP_DISABLED
        elif self._tracked >= self._options.max_links:
            reason = SKIP_LIMIT
        else:
            reason = None
            try:
                tracked = self._mint(append_params(checked.url, self._params), index, location, tags)
            except ValueError:
                reason = SKIP_MALFORMED  # the minter refused it (too long, unsafe, ...)
            else:
                self._tracked += 1
        self.links.append(LinkReport(index, location, found, tracked, reason))
        return tracked

    def _check(
        self, found: str, opt_out: bool, visible_text: Callable[[], str] | None
    ) -> Destination | str:
        if opt_out:
            return SKIP_OPT_OUT
        checked = check_link(found, self._options.prefix_www)
        if isinstance(checked, str):
            return checked
        if self._click_hosts and is_click_host(checked.host, self._click_hosts):
            return SKIP_ALREADY_TRACKED
        if (
            visible_text is not None
            and self._options.protect_visible_urls
            and looks_like_url(visible_text())
        ):
            return SKIP_VISIBLE_URL
        return checked
