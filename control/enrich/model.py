"""What enrichment stores per click, and what burst detection needs to know of one."""

from __future__ import annotations

import msgspec

from control.enrich.reasons import verdict_of


class Enrichment(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Who clicked: parsed user agent, geography, privacy-safe address, bot verdict.

    Unknown values are "" (strings) and 0 (asn), never None, so columns stay NOT NULL.
    Frozen, and all fields immutable, so it can never be part of a reference cycle:
    gc=False keeps the garbage collector from walking batches of thousands of them
    (retained GC-tracked structs cost ~1.4 us each in collections).
    """

    browser: str  # ua-parser family: "Chrome", "Mobile Safari", "Outlook", ...
    browser_version: str  # dotted, as far as the user agent tells: "142.0.0.0"
    os: str  # "Windows", "Mac OS X", "iOS", "Android", ...
    os_version: str
    device: str  # "iPhone", "iPad", "Mac", "Spider", a model name, or ""
    platform: str  # Postmark's names: Desktop, Mobile, Tablet, WebMail, Unknown
    email_client: str  # "Outlook", "Apple Mail", "Thunderbird", "Gmail", ... or ""
    country: str  # ISO 3166-1 alpha-2
    region: str  # first subdivision's English name
    city: str  # English name
    asn: int
    as_org: str
    ip: str  # canonical text; /24 or /48 network address when truncated; "" if invalid
    is_bot: bool
    bot_reasons: tuple[str, ...]  # codes of reasons.REASONS in canonical order (shared)
    bot_confidence: float  # 0.0 for humans; noisy-OR of the reasons' weights


class BurstClick(msgspec.Struct, frozen=True):
    """One click of one message to one recipient, as burst detection sees it."""

    click_id: str
    time_ms: int
    link: str  # what tells links apart: "html:3", the link index, or the destination URL


def with_reason(enrichment: Enrichment, reason: str) -> Enrichment:
    """A copy with one more reason and the verdict recomputed (for burst reclassification)."""
    verdict = verdict_of([*enrichment.bot_reasons, reason])
    return msgspec.structs.replace(
        enrichment,
        is_bot=verdict.is_bot,
        bot_reasons=verdict.reasons,
        bot_confidence=verdict.confidence,
    )
