"""Burst detection: many distinct links of one message clicked within seconds is a scanner."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from control.enrich.model import BurstClick

# A scanner opens every link of a message in a second or two. A person who
# ctrl-clicks a few links into tabs takes longer per link and rarely opens three
# different ones within three seconds.
DEFAULT_WINDOW_S: Final = 3.0
DEFAULT_MIN_LINKS: Final = 3


def reclassify_bursts(
    clicks: Iterable[BurstClick],
    window_s: float = DEFAULT_WINDOW_S,
    min_links: int = DEFAULT_MIN_LINKS,
) -> set[str]:
    """Ids of the clicks that belong to a burst: a span of at most window_s seconds in
    which at least min_links distinct links were clicked.

    Pass the clicks of one message to one recipient (earlier ones already stored and
    the new ones), so a burst is found when its later clicks arrive and the earlier
    clicks are reclassified too. Every click inside a bursting span is returned,
    repeats of a link included. O(n log n).
    """
    if min_links < 2:
        raise ValueError("a burst needs at least two distinct links")
    ordered = sorted(clicks, key=lambda c: c.time_ms)
    window_ms = int(window_s * 1000)
    in_window: dict[str, int] = {}  # link -> clicks of it inside the window
    flagged: set[str] = set()
    start = 0
    marked_until = 0  # clicks before this index are already flagged
    for end, click in enumerate(ordered):
        in_window[click.link] = in_window.get(click.link, 0) + 1
        while ordered[start].time_ms < click.time_ms - window_ms:
            _leave(in_window, ordered[start].link)
            start += 1
        if len(in_window) >= min_links:
            flagged.update(c.click_id for c in ordered[max(start, marked_until) : end + 1])
            marked_until = end + 1
    return flagged


def _leave(in_window: dict[str, int], link: str) -> None:
    left = in_window[link] - 1
    if left:
        in_window[link] = left
    else:
        del in_window[link]
