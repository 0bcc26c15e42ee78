"""Writes the tiny MaxMind-format databases the enrichment tests read (documentation addresses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]

# RFC 5737 / RFC 3849 documentation networks, RFC 5398 documentation AS numbers.
SYDNEY = "203.0.113.0/24"  # GeoLite2-City layout: nested, with English names
BERLIN_FLAT = "198.51.100.0/24"  # ip-location-db layout: flat country_code/state1/city
US_HALF = "192.0.2.0/25"  # two narrower records sharing one /24
CA_HALF = "192.0.2.128/25"
AMSTERDAM_V6 = "2001:db8::/32"

GEO_RECORDS: dict[str, dict[str, Any]] = {
    SYDNEY: {
        "country": {"iso_code": "AU", "names": {"en": "Australia"}},
        "subdivisions": [{"iso_code": "NSW", "names": {"en": "New South Wales"}}],
        "city": {"names": {"en": "Sydney", "de": "Sydney"}},
    },
    BERLIN_FLAT: {"country_code": "DE", "state1": "Land Berlin", "city": "Berlin"},
    US_HALF: {"country": {"iso_code": "US", "names": {"en": "United States"}}},
    CA_HALF: {"country": {"iso_code": "CA", "names": {"en": "Canada"}}},
    AMSTERDAM_V6: {
        "country": {"iso_code": "NL", "names": {"en": "Netherlands"}},
        "subdivisions": [{"iso_code": "NH", "names": {"en": "North Holland"}}],
        "city": {"names": {"en": "Amsterdam"}},
    },
}

ASN_RECORDS: dict[str, dict[str, Any]] = {
    SYDNEY: {"autonomous_system_number": 64496, "autonomous_system_organization": "Example Net"},
    AMSTERDAM_V6: {
        "autonomous_system_number": 64497,
        "autonomous_system_organization": "Example Six",
    },
}


def write_db(path: Path, records: dict[str, dict[str, Any]], kind: str) -> Path:
    """An IPv6 database with IPv4 at ::/96, as MaxMind's own databases are laid out."""
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=kind,
        languages=["en"],
        description="clickgate enrichment test database",
    )
    for cidr, record in records.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def write_ipv4_only_db(path: Path) -> Path:
    """A database without IPv6: looking up an IPv6 address in it must not fail."""
    writer = MMDBWriter(ip_version=4, database_type="Test-Country-IPv4")
    writer.insert_network(IPSet([SYDNEY]), {"country_code": "AU"})
    writer.to_db_file(str(path))
    return path
