"""Bot reason codes, their weights, and the verdict (is_bot, confidence) they add up to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, NamedTuple

# Stable codes: they are stored per click and shown to users, so never rename one.
HEAD_REQUEST: Final = "head_request"
PREFETCH: Final = "prefetch"
KNOWN_BOT_UA: Final = "known_bot_ua"
EMPTY_UA: Final = "empty_ua"
SCANNER_NETWORK: Final = "scanner_network"
TOO_FAST: Final = "too_fast"
BURST: Final = "burst"

# How sure one signal alone makes us, as a probability that the click was a machine.
# Each is above BOT_THRESHOLD, so any single reason marks a bot; the weights only
# rank bots by how sure we are. A future weak signal (< threshold) would count only
# in combination with others.
WEIGHTS: Final[dict[str, float]] = {
    HEAD_REQUEST: 0.9,  # browsers navigate with GET; HEAD is a link checker
    PREFETCH: 0.9,  # the client itself says this is not a navigation
    KNOWN_BOT_UA: 0.95,  # names itself as a crawler, proxy or scanner
    EMPTY_UA: 0.8,  # every browser sends one; scripts often do not
    SCANNER_NETWORK: 0.8,  # those ranges also carry a little human traffic
    TOO_FAST: 0.7,  # delivery plus opening plus reading takes a human longer
    BURST: 0.85,  # many links of one message within seconds: a scanner walking them
}
REASONS: Final = tuple(WEIGHTS)  # canonical order of a click's bot_reasons
BOT_THRESHOLD: Final = 0.5

_BIT: Final = {reason: 1 << n for n, reason in enumerate(REASONS)}


class Verdict(NamedTuple):
    is_bot: bool
    reasons: tuple[str, ...]
    confidence: float


def confidence(reasons: Iterable[str]) -> float:
    """Noisy-OR of the reasons' weights: independent signals each add certainty."""
    doubt = 1.0
    for reason in set(reasons):
        doubt *= 1.0 - WEIGHTS[reason]
    return round(1.0 - doubt, 4)


def _verdict(mask: int) -> Verdict:
    reasons = tuple(r for r in REASONS if mask & _BIT[r])
    score = confidence(reasons)
    return Verdict(score >= BOT_THRESHOLD, reasons, score)


# Every combination precomputed, so the per-click cost is one tuple index.
VERDICTS: Final = tuple(_verdict(mask) for mask in range(1 << len(REASONS)))


def bit(reason: str) -> int:
    """The reason's bit in a mask that indexes VERDICTS."""
    return _BIT[reason]


def verdict_of(reasons: Iterable[str]) -> Verdict:
    """The verdict for a set of reason codes (unknown codes raise KeyError)."""
    mask = 0
    for reason in reasons:
        mask |= _BIT[reason]
    return VERDICTS[mask]
