"""Link rewriting for outgoing mail: tracked links in HTML and text, and a per-link report."""

from __future__ import annotations

from control.rewrite.html import rewrite_html
from control.rewrite.model import (
    SKIP_REASONS,
    LinkReport,
    Minter,
    RewriteOptions,
    RewriteResult,
    TagsRefused,
    UrlTooLong,
)
from control.rewrite.session import LinkSession
from control.rewrite.text import rewrite_text

__all__ = [
    "SKIP_REASONS",
    "LinkReport",
    "Minter",
    "RewriteOptions",
    "RewriteResult",
    "TagsRefused",
    "UrlTooLong",
    "rewrite_message",
]


def rewrite_message(
    html: str | None, text: str | None, mint: Minter, options: RewriteOptions
) -> RewriteResult:
    """Rewrite a message's bodies; links are numbered across html first, then text.

    A body whose tracking is switched off is still scanned, so its links are reported
    ("disabled") and our own markers never reach a recipient.
    """
    session = LinkSession(mint, options)
    new_html = None if html is None else rewrite_html(html, session, enabled=options.track_html)
    new_text = (
        None
        if text is None
        else rewrite_text(text, session, enabled=options.track_text, prefix_www=options.prefix_www)
    )
    return RewriteResult(new_html, new_text, session.links)
