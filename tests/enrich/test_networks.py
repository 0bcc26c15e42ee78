"""Scanner networks: the seed list parses, and membership is exact at the edges."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control.enrich import SEED_SCANNER_CIDRS
from control.enrich.addresses import parse_ip
from control.enrich.networks import NetworkSet


def contains(networks: NetworkSet, ip: str) -> bool:
    packed = parse_ip(ip)
    assert packed is not None
    return packed in networks


def test_seed_list_is_small_valid_and_disjoint() -> None:
    assert 0 < len(SEED_SCANNER_CIDRS) <= 40
    nets = [ipaddress.ip_network(c) for c in SEED_SCANNER_CIDRS]  # strict: no host bits
    for n, net in enumerate(nets):
        assert not any(net.overlaps(other) for other in nets[n + 1 :]), net


@pytest.mark.parametrize(
    ("ip", "inside"),
    [
        ("40.107.0.0", True),
        ("40.107.255.255", True),
        ("40.108.0.0", False),
        ("40.91.255.255", False),
        ("40.92.0.0", True),
        ("2a01:111:f403:ffff::1", True),
        ("2a01:111:f404::1", False),
        ("::ffff:104.47.12.1", True),
        ("203.0.113.7", False),
        ("::1", False),
    ],
)
def test_seed_membership(ip: str, inside: bool) -> None:
    assert contains(NetworkSet(SEED_SCANNER_CIDRS), ip) is inside


def test_adjacent_and_overlapping_ranges_merge() -> None:
    merged = NetworkSet(["10.0.0.0/25", "10.0.0.128/25", "10.0.0.64/26", "10.0.1.0/24"])
    assert len(merged) == 1
    assert contains(merged, "10.0.1.255") and not contains(merged, "10.0.2.0")


def test_empty_set() -> None:
    assert not contains(NetworkSet([]), "203.0.113.7")


@given(
    st.lists(st.ip_addresses(v=4), min_size=1, max_size=8),
    st.integers(0, 7),
    st.integers(-(2**16), 2**16),
)
def test_matches_ipaddress(bases: list[ipaddress.IPv4Address], pick: int, offset: int) -> None:
    """Probes near the ranges' edges, where an off-by-one would show."""
    cidrs = [f"{base}/{16 + n % 17}" for n, base in enumerate(bases)]
    networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    probe = ipaddress.IPv4Address((int(bases[pick % len(bases)]) + offset) % 2**32)
    expected = any(probe in net for net in networks)
    assert contains(NetworkSet(cidrs), str(probe)) is expected
