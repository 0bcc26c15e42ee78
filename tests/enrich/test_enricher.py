"""The Enricher end to end: a whole Enrichment, privacy of the stored address, bad input."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from control.enrich import Enricher, Enrichment
from tests.enrich.agents import BROWSERS, MAIL_CLIENTS

SENT_S = 1_760_000_000


def test_a_person_in_sydney_on_an_ipad(enricher: Enricher) -> None:
    click = enricher.enrich(
        ip="203.0.113.77",
        user_agent=BROWSERS["safari-ipad"].ua,
        method="GET",
        purpose="",
        time_ms=(SENT_S + 600) * 1000,
        sent_at_s=SENT_S,
    )
    assert click == Enrichment(
        browser="Mobile Safari",
        browser_version="18.6",
        os="iOS",
        os_version="18.6",
        device="iPad",
        platform="Tablet",
        email_client="",
        country="AU",
        region="New South Wales",
        city="Sydney",
        asn=64496,
        as_org="Example Net",
        ip="203.0.113.0",
        is_bot=False,
        bot_reasons=(),
        bot_confidence=0.0,
    )


def test_outlook_on_windows(enricher: Enricher) -> None:
    click = enricher.enrich(
        ip="2001:db8:abcd:12::9",
        user_agent=MAIL_CLIENTS["outlook-windows"].ua,
        method="GET",
        purpose="",
        time_ms=(SENT_S + 600) * 1000,
        sent_at_s=SENT_S,
    )
    assert (click.email_client, click.platform, click.country) == ("Outlook", "Desktop", "NL")
    assert click.ip == "2001:db8:abcd::"


@pytest.mark.parametrize("ip", ["203.0.113.77", "2001:db8:abcd:12:34:56:78:9a"])
def test_no_full_address_anywhere_in_the_stored_record(enricher: Enricher, ip: str) -> None:
    click = enricher.enrich(ip=ip, user_agent="", method="GET", purpose="", time_ms=0, sent_at_s=0)
    assert ip not in msgspec.json.encode(click).decode()
    assert ip not in repr(click)


def test_truncation_can_be_switched_off_per_tenant(enricher: Enricher) -> None:
    full = enricher.enrich(
        ip="2001:DB8:abcd:12::9",
        user_agent="",
        method="GET",
        purpose="",
        time_ms=0,
        sent_at_s=0,
        truncate_ip=False,
    )
    assert full.ip == "2001:db8:abcd:12::9"  # canonical form
    assert full.country == "NL"


@pytest.mark.parametrize("ip", ["", "unknown", "203.0.113.999", "fe80::1%eth0"])
def test_unparseable_address_is_stored_empty_with_unknown_geography(
    enricher: Enricher, ip: str
) -> None:
    edge = BROWSERS["edge-windows"].ua
    click = enricher.enrich(
        ip=ip, user_agent=edge, method="GET", purpose="", time_ms=0, sent_at_s=0
    )
    assert (click.ip, click.country, click.city, click.asn) == ("", "", "", 0)
    assert click.browser == "Edge" and not click.is_bot


def test_enricher_is_a_context_manager(geo_db: Path) -> None:
    with Enricher(str(geo_db), None) as enricher:
        assert enricher.has_geography
