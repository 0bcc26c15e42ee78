"""Each bot signal on its own, their combination, and the confidence they add up to."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.enrich import Enricher, Enrichment, confidence, with_reason
from control.enrich.reasons import BOT_THRESHOLD, REASONS, VERDICTS, WEIGHTS, verdict_of
from tests.enrich.agents import BROWSERS, MAIL_PROXIES, SCANNERS

HUMAN_UA = BROWSERS["chrome-windows"].ua
SENT_S = 1_760_000_000
LATER_MS = (SENT_S + 3600) * 1000  # an hour after sending: nothing suspicious
PERSON_IP = "203.0.113.7"


def click(enricher: Enricher, **changes: object) -> Enrichment:
    fields: dict[str, object] = {
        "ip": PERSON_IP,
        "user_agent": HUMAN_UA,
        "method": "GET",
        "purpose": "",
        "time_ms": LATER_MS,
        "sent_at_s": SENT_S,
    }
    fields.update(changes)
    return enricher.enrich(**fields)  # type: ignore[arg-type]


def test_a_person_is_not_a_bot(enricher: Enricher) -> None:
    human = click(enricher)
    assert (human.is_bot, human.bot_reasons, human.bot_confidence) == (False, (), 0.0)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"method": "HEAD"}, "head_request"),
        ({"method": "head"}, "head_request"),
        ({"purpose": "prefetch"}, "prefetch"),  # Sec-Purpose / Purpose
        ({"purpose": "prefetch;prerender"}, "prefetch"),
        ({"purpose": "preview"}, "prefetch"),  # Purpose: preview (link previews)
        ({"user_agent": SCANNERS["bing-preview"]}, "known_bot_ua"),
        ({"user_agent": MAIL_PROXIES["gmail-image-proxy"].ua}, "known_bot_ua"),
        ({"user_agent": ""}, "empty_ua"),
        ({"ip": "40.107.12.34"}, "scanner_network"),  # Exchange Online Protection
        ({"ip": "2a01:111:f400:1::5"}, "scanner_network"),
        ({"ip": "209.222.82.9"}, "scanner_network"),  # Barracuda
        ({"time_ms": SENT_S * 1000 + 1500}, "too_fast"),
        ({"time_ms": SENT_S * 1000 - 2000}, "too_fast"),  # before the send time: skew/scan
    ],
)
def test_each_signal_alone_marks_a_bot(
    enricher: Enricher, changes: dict[str, object], reason: str
) -> None:
    bot = click(enricher, **changes)
    assert bot.bot_reasons == (reason,)
    assert bot.is_bot
    assert bot.bot_confidence == WEIGHTS[reason]


def test_too_fast_needs_a_known_send_time(enricher: Enricher) -> None:
    assert not click(enricher, sent_at_s=0, time_ms=1000).is_bot
    assert not click(enricher, time_ms=SENT_S * 1000 + 5000).is_bot  # exactly 5 s is fine


def test_too_fast_threshold_is_configurable() -> None:
    slow = Enricher(None, None, too_fast_s=60)
    assert click(slow, time_ms=SENT_S * 1000 + 30_000).bot_reasons == ("too_fast",)


def test_signals_combine_in_canonical_order_with_higher_confidence(enricher: Enricher) -> None:
    bot = click(
        enricher,
        ip="104.47.1.1",
        user_agent="",
        method="HEAD",
        purpose="prefetch",
        time_ms=SENT_S * 1000,
    )
    assert bot.bot_reasons == (
        "head_request",
        "prefetch",
        "empty_ua",
        "scanner_network",
        "too_fast",
    )
    assert bot.bot_confidence > max(WEIGHTS.values())
    assert bot.bot_confidence == confidence(bot.bot_reasons)


def test_every_verdict_is_consistent() -> None:
    assert VERDICTS[0].reasons == () and not VERDICTS[0].is_bot
    for verdict in VERDICTS[1:]:
        assert verdict.is_bot and verdict.confidence >= BOT_THRESHOLD
        assert verdict.reasons == tuple(r for r in REASONS if r in verdict.reasons)
        assert verdict_of(reversed(verdict.reasons)) == verdict


def test_with_reason_reclassifies_a_stored_click(enricher: Enricher) -> None:
    human = click(enricher)
    burst = with_reason(human, "burst")
    assert (burst.is_bot, burst.bot_reasons, burst.bot_confidence) == (True, ("burst",), 0.85)
    again = with_reason(with_reason(click(enricher, method="HEAD"), "burst"), "burst")
    assert again.bot_reasons == ("head_request", "burst")
    assert human.bot_reasons == ()  # the original is untouched


def test_custom_scanner_list_replaces_the_seed() -> None:
    custom = Enricher(None, None, scanner_cidrs=["198.51.100.0/24"])
    assert click(custom, ip="198.51.100.9").bot_reasons == ("scanner_network",)
    assert click(custom, ip="40.107.12.34").bot_reasons == ()


def test_bad_scanner_cidr_is_named() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        Enricher(None, None, scanner_cidrs=["not-a-network"])


def test_the_operators_scanner_ranges_come_on_top_of_the_seed(tmp_path: Path) -> None:
    from control.api.app import make_context
    from control.settings import load_control_settings
    from tests.cluster import MASTER_KEY

    settings = load_control_settings(
        {
            "CLICKGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
            "CLICKGATE_MASTER_KEY": MASTER_KEY,
            "CLICKGATE_SCANNER_CIDRS": "198.51.100.0/24, 2001:db8::/32",
        }
    )
    ctx = make_context(settings)
    try:
        enricher = ctx.enricher
        for ip in ("198.51.100.9", "2001:db8::1", "40.107.12.34"):  # the last: seed (EOP)
            assert click(enricher, ip=ip).bot_reasons == ("scanner_network",), ip
        assert click(enricher).bot_reasons == ()
    finally:
        ctx.engine.dispose()
