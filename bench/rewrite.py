"""Link rewriting throughput: control.rewrite vs a BeautifulSoup+lxml rewriter, same run.

Both rewrite every HTML template in tests/rewrite/corpus with the same decisions
(control.rewrite.session.LinkSession) and the API's token minter, in interleaved rounds
in one process; each is timed by its median round. Run: python -m bench.rewrite
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Final

from bs4 import BeautifulSoup, Comment, Tag

from control.messages import make_minter
from control.rewrite import RewriteOptions, rewrite_message
from control.rewrite.model import LOCATION_HTML, Minter
from control.rewrite.session import LinkSession
from control.rewrite.urls import looks_like_url

CORPUS: Final = Path(__file__).resolve().parent.parent / "tests" / "rewrite" / "corpus"
KEY_ID: Final = 7
KEY: Final = bytes(range(32))
# What POST /v1/messages/rewrite passes with the default stream: extra parameters, and
# every click domain (a link to one is never wrapped twice).
OPTIONS: Final = RewriteOptions(
    url_params={"utm_source": "clickgate"}, click_hosts=frozenset({"click.example.com"})
)


def real_minter(message_id: str) -> Minter:
    """The API's minter for one message (control.messages): BLAKE3 MAC, msgpack, base64url.

    Made per message, as the API does; its tokens carry message tags, send time and a
    recipient reference like real ones, so they are as long as real ones.
    """
    return make_minter(
        KEY_ID,
        KEY,
        "https://click.example.com",
        message_id=message_id,
        tags=("newsletter", "campaign:winter-sale"),
        sent_at=1_764_547_200,
        recipient="h:3q2-7wEjUkmuN1xvC0pQ5A",
    )


def ours(html: str, minter: Minter) -> str:
    result = rewrite_message(html, None, minter, OPTIONS)
    assert result.html is not None
    return result.html


def soup_rewriter(html: str, minter: Minter) -> str:
    """The obvious Python way: parse, walk the tree, set href, serialize.

    It makes the same per-link decisions through LinkSession, re-parses Outlook
    conditional comments to reach VML buttons, and pays for what a tree costs: the
    output is re-serialized (not byte-identical), which is why we do not ship it.
    """
    session = LinkSession(minter, OPTIONS)
    soup = BeautifulSoup(html, "lxml")
    _rewrite_tree(soup, session)
    for comment in soup.find_all(string=lambda node: isinstance(node, Comment)):
        if comment.startswith("[if") and "href" in comment.lower():
            inner = BeautifulSoup(comment, "lxml")
            _rewrite_tree(inner, session)
            comment.replace_with(Comment(inner.decode(formatter="minimal")))
    return soup.decode(formatter="minimal")


def _rewrite_tree(soup: BeautifulSoup, session: LinkSession) -> None:
    for tag in soup.find_all(_is_link):
        href = tag.get("href")
        if not isinstance(href, str):
            continue
        value = tag.get("class")  # a list of classes, or a str for odd markup
        classes: list[str] = [str(c) for c in value] if isinstance(value, list) else []
        opt_out = (
            "untracked" in [c.lower() for c in classes]
            or any(
                tag.has_attr(a) for a in ("data-pm-no-track", "data-smtpd-no-track", "ses:no-track")
            )
            or tag.has_attr("data-clickgate-no-track")
        )
        tags = tuple(
            part.strip()
            for marker in ("data-clickgate-tags", "postbox:tags")
            for part in str(tag.get(marker) or "").split(";")
            if part.strip()
        )
        for marker in ("data-clickgate-no-track", "data-clickgate-tags"):
            if tag.has_attr(marker):
                del tag[marker]
        found = href.strip()
        reason, url = ("opt_out", "") if opt_out else session.destination(found)
        if reason is None and tag.name == "a" and looks_like_url(tag.get_text().strip()):
            reason = "visible_url"
        tracked = session.add(found, LOCATION_HTML, reason, url, True, tags)
        if tracked is not None:
            tag["href"] = tracked


def _is_link(tag: Tag) -> bool:
    return tag.name in ("a", "area") or tag.name.startswith("v:")


Rewriter = Callable[[str, Minter], str]


def time_pass(rewriter: Rewriter, html: str, repeat: int) -> float:
    """Seconds per rewrite of one template, averaged over `repeat` back-to-back runs."""
    began = time.perf_counter()
    for _ in range(repeat):
        # A minter per message, as the API makes one: its caches start cold every time.
        rewriter(html, real_minter("bench-message-0001"))
    return (time.perf_counter() - began) / repeat


MintCall = tuple[str, int, str, tuple[str, ...]]


def mint_calls(rewriter: Rewriter, html: str) -> list[MintCall]:
    """The tokens a rewriter mints for a template, in order: both must do the same job."""
    calls: list[MintCall] = []
    inner = real_minter("bench-message-0001")

    def recording(url: str, index: int, location: str, tags: tuple[str, ...]) -> str:
        calls.append((url, index, location, tags))
        return inner(url, index, location, tags)

    rewriter(html, recording)
    return calls


def time_minting(calls: list[MintCall], repeat: int) -> float:
    """Seconds per template spent in the minter alone: the floor under both rewriters."""
    began = time.perf_counter()
    for _ in range(repeat):
        minter = real_minter("bench-message-0001")
        for call in calls:
            minter(*call)
    return (time.perf_counter() - began) / repeat


def measure(
    templates: dict[str, str], calls: dict[str, list[MintCall]], rounds: int
) -> dict[str, dict[str, float]]:
    """Median seconds per template for each rewriter (and minting) over interleaved rounds.

    Rounds alternate the contenders template by template, so a burst of other work on
    the machine lands on both; the median round discards such bursts either way.
    """
    who = ("ours", "soup", "mint")
    samples: dict[str, dict[str, list[float]]] = {n: {w: [] for w in who} for n in templates}
    for _ in range(rounds):
        for name, html in templates.items():
            samples[name]["ours"].append(time_pass(ours, html, 40))
            samples[name]["soup"].append(time_pass(soup_rewriter, html, 1))
            samples[name]["mint"].append(time_minting(calls[name], 40))
    return {name: {w: median(values) for w, values in per.items()} for name, per in samples.items()}


def text_rate(rounds: int) -> float:
    """MB/s of the text-body rewriter on the corpus's .txt bodies (no baseline to compare)."""
    bodies = [p.read_bytes().decode() for p in sorted(CORPUS.glob("*.txt"))]
    size = sum(len(b.encode()) for b in bodies)
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(50):
            for body in bodies:
                rewrite_message(None, body, real_minter("bench-message-0001"), OPTIONS)
        samples.append((time.perf_counter() - began) / 50)
    return size / median(samples) / 1e6


def _unordered(calls: list[MintCall]) -> list[tuple[str, str, tuple[str, ...]]]:
    return sorted((url, location, tags) for url, _, location, tags in calls)


Row = tuple[str, int, int, float, float, float]  # name, bytes, links, ours, soup, mint (s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    args = parser.parse_args()
    templates = {p.name: p.read_bytes().decode() for p in sorted(CORPUS.glob("*.html"))}
    calls = {name: mint_calls(ours, html) for name, html in templates.items()}
    for name, html in templates.items():  # also warms both up before timing
        # The tree walk reaches Outlook blocks last, so compare without the link index.
        if _unordered(mint_calls(soup_rewriter, html)) != _unordered(calls[name]):
            sys.exit(f"bench.rewrite: the two rewriters mint different tokens for {name}")
    links = {
        n: len(rewrite_message(h, None, real_minter("m"), OPTIONS).links)
        for n, h in templates.items()
    }
    began = time.monotonic()
    medians = measure(templates, calls, args.rounds)
    rows: list[Row] = []
    for name, html in templates.items():
        times = medians[name]
        rows.append(
            (name, len(html.encode()), links[name], times["ours"], times["soup"], times["mint"])
        )
    total_bytes = sum(r[1] for r in rows)
    ours_mb_s = total_bytes / sum(r[3] for r in rows) / 1e6
    soup_mb_s = total_bytes / sum(r[4] for r in rows) / 1e6
    print(_table(rows, ours_mb_s, soup_mb_s))
    report = {
        "bench": "rewrite",
        "corpus_bytes": total_bytes,
        "links": sum(links.values()),
        "ours_mb_s": round(ours_mb_s, 1),
        "beautifulsoup_mb_s": round(soup_mb_s, 2),
        "ratio": round(ours_mb_s / soup_mb_s, 1),
        "mint_share_of_ours": round(sum(r[5] for r in rows) / sum(r[3] for r in rows), 2),
        "text_mb_s": round(text_rate(args.rounds), 1),
        "rounds": args.rounds,
        "seconds": round(time.monotonic() - began, 1),
        "python": sys.version.split()[0],
    }
    print(json.dumps(report))


def _table(rows: list[Row], ours_mb_s: float, soup_mb_s: float) -> str:
    head = (
        f"{'template':28} {'bytes':>7} {'links':>5} "
        f"{'ours MB/s':>9} {'soup MB/s':>9} {'ratio':>6} {'mint %':>6}"
    )
    lines = [head, "-" * len(head)]
    for name, size, count, ours_s, soup_s, mint_s in rows:
        lines.append(
            f"{name:28} {size:>7} {count:>5} {size / ours_s / 1e6:>9.1f} "
            f"{size / soup_s / 1e6:>9.2f} {soup_s / ours_s:>6.1f} {100 * mint_s / ours_s:>6.0f}"
        )
    lines.append("-" * len(head))
    mint_share = sum(r[5] for r in rows) / sum(r[3] for r in rows)
    lines.append(
        f"{'all (bytes / total time)':28} "
        f"{sum(r[1] for r in rows):>7} {sum(r[2] for r in rows):>5} "
        f"{ours_mb_s:>9.1f} {soup_mb_s:>9.2f} {ours_mb_s / soup_mb_s:>6.1f} "
        f"{100 * mint_share:>6.0f}"
    )
    lines.append("mint %: share of our time spent in the token minter itself (both pay it)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
