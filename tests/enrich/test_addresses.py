"""Privacy truncation: IPv4 to /24, IPv6 to /48, garbage to ""."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control.enrich import truncate_ip
from control.enrich.addresses import as_int, parse_ip


@pytest.mark.parametrize(
    ("ip", "stored"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("198.51.100.255", "198.51.100.0"),
        ("0.0.0.0", "0.0.0.0"),
        (" 192.0.2.9 ", "192.0.2.0"),
        ("2001:db8:abcd:12:34:56:78:9a", "2001:db8:abcd::"),
        ("2001:DB8:ABCD:0012::1", "2001:db8:abcd::"),
        ("2001:db8::1", "2001:db8::"),
        ("::1", "::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),  # an IPv4 client on a dual-stack socket
        ("2002:cb00:7105::1", "2002:cb00:7100::"),  # 6to4 of 203.0.113.5: its /24, not /48
    ],
)
def test_truncation(ip: str, stored: str) -> None:
    assert truncate_ip(ip) == stored


@pytest.mark.parametrize(
    "ip",
    ["", "unknown", "203.0.113", "203.0.113.256", "1.2.3.4.5", "fe80::1%eth0", "[2001:db8::1]",
     "2001:db8::1::2", "203.0.113.7\x00", "example.com"],
)  # fmt: skip
def test_unparseable_is_empty(ip: str) -> None:
    assert truncate_ip(ip) == ""
    assert parse_ip(ip) is None


@given(st.ip_addresses(v=4))
def test_ipv4_truncation_is_the_slash_24(address: ipaddress.IPv4Address) -> None:
    expected = ipaddress.ip_network(f"{address}/24", strict=False).network_address
    assert truncate_ip(str(address)) == str(expected)


@given(st.ip_addresses(v=6))
def test_ipv6_truncation_is_the_slash_48(address: ipaddress.IPv6Address) -> None:
    if address.ipv4_mapped is not None:
        expected = str(ipaddress.ip_network(f"{address.ipv4_mapped}/24", strict=False)[0])
    elif address.sixtofour is not None:  # the IPv4 address it carries, cut to its /24
        expected = str(ipaddress.ip_network(f"{address}/40", strict=False).network_address)
    else:
        expected = str(ipaddress.ip_network(f"{address}/48", strict=False).network_address)
    assert truncate_ip(str(address)) == expected
    assert truncate_ip(truncate_ip(str(address))) == expected  # idempotent


def test_ipv4_shares_the_mapped_slot_of_the_128_bit_line() -> None:
    v4 = parse_ip("203.0.113.7")
    mapped = ipaddress.ip_address("::ffff:203.0.113.7")
    assert v4 is not None and as_int(v4) == int(mapped)
