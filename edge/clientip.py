"""The client's address: the peer, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress

_CACHE_LIMIT = 4096


class ClientIP:
    def __init__(self, trusted_cidrs: list[str]) -> None:
        self.networks = [ipaddress.ip_network(c, strict=False) for c in trusted_cidrs]
        self._trusted: dict[
            str, bool
        ] = {}  # peer address -> trusted, so the hot path skips parsing

    def is_trusted(self, address: str) -> bool:
        known = self._trusted.get(address)
        if known is not None:
            return known
        try:
            ip = ipaddress.ip_address(address)
            # A proxy reaching an edge bound to "::" over IPv4 is ::ffff:a.b.c.d: it is in
            # an IPv4 range as a.b.c.d, and in an IPv6 range (::ffff:0:0/96) as itself.
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            trusted = any(
                ip in net or (mapped is not None and mapped in net) for net in self.networks
            )
        except ValueError:
            trusted = False
        if len(self._trusted) >= _CACHE_LIMIT:
            self._trusted.clear()
        self._trusted[address] = trusted
        return trusted

    def resolve(self, peer: str, forwarded_for: bytes) -> str:
        """The right-most address in X-Forwarded-For not belonging to a trusted proxy."""
        if not forwarded_for or not self.networks or not self.is_trusted(peer):
            return peer
        hops = forwarded_for.decode("latin-1").split(",")
        for hop in reversed(hops):
            candidate = hop.strip()
            if not self.is_trusted(candidate):
                return candidate if _is_ip(candidate) else peer
        return hops[0].strip() if _is_ip(hops[0].strip()) else peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
