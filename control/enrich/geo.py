"""Geography and autonomous system from MaxMind-format databases, cached per network."""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import maxminddb

from control.enrich.addresses import format_ip, truncate_packed
from control.enrich.cache import GenerationalCache

DEFAULT_CACHE_SIZE: Final = 32_768  # per generation: ~10 MB when both are full


class Place(NamedTuple):
    country: str  # ISO 3166-1 alpha-2
    region: str
    city: str
    asn: int
    as_org: str


UNKNOWN_PLACE: Final = Place("", "", "", 0, "")


class GeoDatabaseError(ValueError):
    """A configured database path that cannot be opened as a MaxMind DB."""


def open_reader(path: str | None) -> maxminddb.Reader | None:
    """The database at path, or None when no path is configured.

    A configured path that does not open is an error at start-up, not unknown
    geography forever: a typo in a setting should stop the process and say so.
    """
    if not path:
        return None
    try:
        return maxminddb.open_database(path, maxminddb.MODE_AUTO)  # C extension when built
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise GeoDatabaseError(f"cannot open MaxMind database {path!r}: {exc}") from exc


class GeoResolver:
    """Country/region/city and ASN for an address, from the full address.

    A database record covers a whole network (get_with_prefix_len says how big).
    When it covers the address's /24 (IPv4) or /48 (IPv6), the answer is cached
    under that network, so every other reader behind the same corporate NAT or
    scanner range is a cache hit; narrower records are cached per address.
    """

    def __init__(
        self, geo_db_path: str | None, asn_db_path: str | None, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        self._geo = open_reader(geo_db_path)
        self._asn = open_reader(asn_db_path)
        self._cache: GenerationalCache[bytes, Place] = GenerationalCache(cache_size)

    @property
    def enabled(self) -> bool:
        return self._geo is not None or self._asn is not None

    def lookup(self, packed: bytes, network: bytes | None = None) -> Place:
        """packed: from addresses.parse_ip; network: its truncate_packed(), if at hand."""
        if self._geo is None and self._asn is None:
            return UNKNOWN_PLACE
        # The "/" keeps network keys apart from address keys: 10.0.0.0 is both.
        net_key = b"/" + (truncate_packed(packed) if network is None else network)
        place = self._cache.get(net_key) or self._cache.get(packed)
        if place is None:
            place, covers_network = self._read(packed)
            self._cache.put(net_key if covers_network else packed, place)
        return place

    def close(self) -> None:
        for reader in (self._geo, self._asn):
            if reader is not None:
                reader.close()

    def _read(self, packed: bytes) -> tuple[Place, bool]:
        text = format_ip(packed)  # canonical: IPv4-mapped IPv6 became plain IPv4
        geo, geo_prefix = _get(self._geo, text)
        asn, asn_prefix = _get(self._asn, text)
        width = 24 if len(packed) == 4 else 48
        place = Place(*_geography(geo), *_autonomous_system(asn))
        return place, geo_prefix <= width and asn_prefix <= width


def _get(reader: maxminddb.Reader | None, text: str) -> tuple[Any, int]:
    """(record or None, prefix length the answer holds for); 0 covers everything."""
    if reader is None:
        return None, 0
    try:
        return reader.get_with_prefix_len(text)
    except ValueError:  # an IPv6 address in an IPv4-only database
        return None, 0


def _geography(record: Any) -> tuple[str, str, str]:
    """Country code, region and city from GeoIP2/GeoLite2 records (nested, with names)
    or the flat ones of ip-location-db (country_code, state1, city)."""
    if not isinstance(record, dict):
        return "", "", ""
    country = record.get("country")
    code = country.get("iso_code") if isinstance(country, dict) else record.get("country_code")
    subdivisions = record.get("subdivisions")
    region = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else None
    return (
        _text(code),
        _name(region) or _text(record.get("state1")),
        _name(record.get("city")),
    )


def _autonomous_system(record: Any) -> tuple[int, str]:
    if not isinstance(record, dict):
        return 0, ""
    number = record.get("autonomous_system_number")
    return (
        number if isinstance(number, int) else 0,
        _text(record.get("autonomous_system_organization")),
    )


def _name(value: Any) -> str:
    """English name of a GeoIP2 place ({"names": {"en": ...}}), or a flat string."""
    if isinstance(value, dict):
        names = value.get("names")
        return _text(names.get("en")) if isinstance(names, dict) else ""
    return _text(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
