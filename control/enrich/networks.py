"""Scanner network ranges: a small documented seed list, and a fast membership test."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable
from typing import Final

from control.enrich.addresses import as_int

# Seed list: ranges the vendors themselves publish for their mail-security services.
# Kept deliberately small and conservative: only where a click from the range is a
# machine far more often than a person. Each entry says where it comes from. Pass
# your own list to Enricher(scanner_cidrs=[*SEED_SCANNER_CIDRS, ...]) to extend it.
#
# Left out on purpose:
#  - Apple Mail Privacy Protection: its proxies share iCloud Private Relay's egress
#    (mask-api.icloud.com/egress-ip-ranges.csv), which also carries human Safari
#    users, and MPP fetches images (opens), not links.
#  - Google (Gmail's image proxy, Google-Safety): caught reliably by user agent, and
#    Google's ranges also serve Chrome's data-saver and other human traffic.
#  - Whole clouds (Azure, AWS): Safe Links detonates from Azure, but so do corporate
#    VPNs and remote desktops of real readers.
SEED_SCANNER_CIDRS: Final[tuple[str, ...]] = (
    # Microsoft Exchange Online Protection, the path of Defender for Office 365 Safe
    # Links: Microsoft 365 endpoints web service (endpoints.office.com), Exchange
    # Online, id 10, "*.mail.protection.outlook.com".
    "40.92.0.0/15",
    "40.107.0.0/16",
    "52.100.0.0/14",
    "104.47.0.0/17",
    "2a01:111:f400::/48",
    "2a01:111:f403::/48",
    # Mimecast: "Mimecast Data Centers and URLs", United States and United Kingdom grids.
    "205.139.110.0/23",
    "207.211.30.0/24",
    "207.211.31.0/25",
    "216.205.24.0/24",
    "63.128.21.0/24",
    "170.10.128.0/22",
    "170.10.132.0/23",
    "195.130.217.0/24",
    "91.220.42.0/24",
    "146.101.78.0/24",
    "185.58.85.0/24",
    "185.58.86.0/24",
    # Proofpoint Essentials (US), "Proofpoint Essentials IP address list".
    "67.231.152.0/22",
    "67.231.156.0/24",
    # Barracuda Email Gateway Defense (US), Barracuda Campus "Email Gateway Defense IP
    # ranges"; also what spf.ess.barracudanetworks.com publishes.
    "209.222.80.0/21",
)


class NetworkSet:
    """Membership in a set of CIDRs by one binary search over merged, sorted ranges.

    IPv4 and IPv6 share one 128-bit line (IPv4 at ::ffff:0:0/96), so one table
    serves both, and the cost does not grow with the number of ranges that matter.
    """

    __slots__ = ("_ends", "_starts")

    def __init__(self, cidrs: Iterable[str]) -> None:
        ranges = sorted(_span(cidr) for cidr in cidrs)
        starts: list[int] = []
        ends: list[int] = []
        for start, end in ranges:
            if ends and start <= ends[-1] + 1:  # overlapping or adjacent: merge
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        self._starts = starts
        self._ends = ends

    def __contains__(self, packed: bytes) -> bool:
        point = as_int(packed)
        i = bisect.bisect_right(self._starts, point) - 1
        return i >= 0 and point <= self._ends[i]

    def __len__(self) -> int:
        """How many disjoint ranges remain after merging."""
        return len(self._starts)


def _span(cidr: str) -> tuple[int, int]:
    """First and last address of a CIDR on the shared 128-bit line; ValueError names it."""
    try:
        net = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f"not a CIDR network: {cidr!r}") from exc
    first = as_int(net.network_address.packed)
    return first, first + net.num_addresses - 1
