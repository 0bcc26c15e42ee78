"""Per-message link decisions: checks in a fixed order, numbering, the limit, the report."""

from __future__ import annotations

from control.rewrite.model import (
    SKIP_ALREADY_TRACKED,
    SKIP_DISABLED,
    SKIP_LIMIT,
    SKIP_MALFORMED,
    SKIP_TAGS,
    SKIP_TOO_LONG,
    LinkReport,
    Minter,
    RewriteOptions,
    TagsRefused,
    UrlTooLong,
)
from control.rewrite.urls import (
    append_params,
    check_link,
    encode_params,
    is_click_host,
    normalize_hosts,
    plain_http_url,
)


class LinkSession:
    """Numbers every link found in a message and decides, once, what happens to it."""

    __slots__ = (
        "_click_hosts",
        "_max_links",
        "_mint",
        "_params",
        "_prefix_www",
        "_tracked",
        "destinations",
        "links",
        "protect_visible_urls",
    )

    def __init__(self, mint: Minter, options: RewriteOptions) -> None:
        self._mint = mint
        self._prefix_www = options.prefix_www
        self.protect_visible_urls = options.protect_visible_urls
        self._max_links = options.max_links
        self._params = encode_params(options.url_params)
        self._click_hosts = normalize_hosts(options.click_hosts)
        self._tracked = 0
        # A template repeats its links (product image and button go to one page), and what
        # a link's text implies is a pure function of it: work it out once per message.
        # Read directly by the HTML rewriter's loop, which calls destination() on a miss.
        self.destinations: dict[str, tuple[str | None, str]] = {}
        self.links: list[LinkReport] = []

    def destination(self, found: str) -> tuple[str | None, str]:
        """(skip code, "") for a link that stays, or (None, the URL to put in its token).

        The first checks, in their fixed order: scheme, placeholder, malformed, already
        tracked. Cached: a template repeats its links.
        """
        known = self.destinations.get(found)
        if known is None:
            known = self.destinations[found] = self._check(found)
        return known

    def add(
        self,
        found: str,
        location: str,
        reason: str | None,
        url: str,
        enabled: bool,
        tags: tuple[str, ...] = (),
    ) -> str | None:
        """Record one link; return its tracked URL, or None to leave it untouched.

        `reason` and `url` come from destination(), or a reason the caller found after it
        (opt_out before, visible_url after); then come disabled, limit, and the minter's
        refusal (too_long, tags, malformed), so a link has one stable reason.
        """
        links = self.links
        index = len(links)
        tracked: str | None = None
        if reason is None:
            if not enabled:
                reason = SKIP_DISABLED
            elif self._tracked >= self._max_links:
                reason = SKIP_LIMIT
            else:
                try:
                    tracked = self._mint(url, index, location, tags)
                except TagsRefused:
                    reason = SKIP_TAGS
                except UrlTooLong:
                    reason = SKIP_TOO_LONG
                except ValueError:  # the minter refused it (too long, unsafe, ...)
                    reason = SKIP_MALFORMED
                else:
                    self._tracked += 1
        links.append(LinkReport(index, location, found, tracked, reason))
        return tracked

    def _check(self, found: str) -> tuple[str | None, str]:
        plain = plain_http_url(found)
        if plain is not None:  # the common link: what check_link would say, in one call
            if plain.group(1) in self._click_hosts:
                return SKIP_ALREADY_TRACKED, ""
            return None, append_params(found, self._params)
        checked = check_link(found, self._prefix_www)
        if isinstance(checked, str):
            return checked, ""
        if self._click_hosts and is_click_host(checked.host, self._click_hosts):
            return SKIP_ALREADY_TRACKED, ""
        return None, append_params(checked.url, self._params)
