"""Geography from the tiny generated MaxMind databases, and from none."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.enrich import Enricher, GeoDatabaseError
from control.enrich.addresses import parse_ip
from control.enrich.geo import UNKNOWN_PLACE, GeoResolver, Place
from tests.enrich.agents import BROWSERS
from tests.enrich.mmdb_fixture import write_ipv4_only_db


def place(resolver: GeoResolver, ip: str) -> Place:
    packed = parse_ip(ip)
    assert packed is not None
    return resolver.lookup(packed)


@pytest.fixture(scope="module")
def resolver(geo_db: Path, asn_db: Path) -> GeoResolver:
    return GeoResolver(str(geo_db), str(asn_db))


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.7", Place("AU", "New South Wales", "Sydney", 64496, "Example Net")),
        ("::ffff:203.0.113.8", Place("AU", "New South Wales", "Sydney", 64496, "Example Net")),
        ("198.51.100.42", Place("DE", "Land Berlin", "Berlin", 0, "")),  # flat layout
        ("2001:db8:1::1", Place("NL", "North Holland", "Amsterdam", 64497, "Example Six")),
        ("192.0.2.10", Place("US", "", "", 0, "")),  # a country-only record
        ("8.8.8.8", UNKNOWN_PLACE),  # not in the database
        ("2a00:1450::1", UNKNOWN_PLACE),
    ],
)
def test_lookup(resolver: GeoResolver, ip: str, expected: Place) -> None:
    assert place(resolver, ip) == expected
    assert place(resolver, ip) == expected  # and again, from the cache


def test_records_narrower_than_the_truncation_are_not_shared(resolver: GeoResolver) -> None:
    """192.0.2.0/25 and 192.0.2.128/25 differ: the cache must not mix the two halves."""
    assert place(resolver, "192.0.2.1").country == "US"
    assert place(resolver, "192.0.2.200").country == "CA"
    assert place(resolver, "192.0.2.0").country == "US"
    assert place(resolver, "192.0.2.129").country == "CA"


def test_geography_comes_from_the_full_address_before_truncation(enricher: Enricher) -> None:
    """192.0.2.200 is in Canada; its stored /24 address 192.0.2.0 would look up as US."""
    click = enricher.enrich(
        ip="192.0.2.200",
        user_agent=BROWSERS["safari-iphone"].ua,
        method="GET",
        purpose="",
        time_ms=0,
        sent_at_s=0,
    )
    assert (click.country, click.ip) == ("CA", "192.0.2.0")


def test_no_database_means_unknown_geography(bare_enricher: Enricher) -> None:
    assert not bare_enricher.has_geography
    click = bare_enricher.enrich(
        ip="203.0.113.7", user_agent="", method="GET", purpose="", time_ms=0, sent_at_s=0
    )
    assert (click.country, click.region, click.city, click.asn, click.as_org) == ("", "", "", 0, "")
    assert click.ip == "203.0.113.0"


def test_geo_without_asn_database(geo_db: Path) -> None:
    only_geo = GeoResolver(str(geo_db), None)
    assert place(only_geo, "203.0.113.7") == Place("AU", "New South Wales", "Sydney", 0, "")
    only_geo.close()


def test_ipv6_address_in_an_ipv4_only_database(tmp_path: Path) -> None:
    v4 = GeoResolver(str(write_ipv4_only_db(tmp_path / "v4.mmdb")), None)
    assert place(v4, "203.0.113.7").country == "AU"
    assert place(v4, "2001:db8::1") == UNKNOWN_PLACE
    v4.close()


@pytest.mark.parametrize("content", [None, b"not a maxmind database"])
def test_a_configured_database_that_does_not_open_is_an_error(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(GeoDatabaseError, match=r"GeoLite2-City\.mmdb"):
        Enricher(str(path), None)
