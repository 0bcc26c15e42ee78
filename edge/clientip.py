"""The client's address: the peer, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

_CACHE_LIMIT = 4096
_FORWARDED_FOR = b"x-forwarded-for"


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

    def resolve(
        self,
        peer: str,
        forwarded_for: bytes,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> str:
        """The right-most address in X-Forwarded-For not belonging to a trusted proxy.

        `forwarded_for` is the header's last line. Several lines (each proxy tier may add
        its own) are one list, in order (RFC 9110 5.3); they are gathered from `headers`
        only when every hop of the last line is a trusted proxy, since otherwise the
        answer is in the last line and the request path need not scan the headers.
        """
        if not self.networks or not self.is_trusted(peer):
            return peer
        hops = forwarded_for.decode("latin-1").split(",")
        found = self._untrusted(hops)
        if found is None:
            lines = [value for name, value in headers if name == _FORWARDED_FOR]
            if len(lines) > 1:
                hops = b",".join(lines).decode("latin-1").split(",")
                found = self._untrusted(hops)
        if found is None:  # every hop is ours: the first is the best guess
            found = next((h.strip() for h in hops if h.strip()), "")
        return found if _is_ip(found) else peer

    def _untrusted(self, hops: list[str]) -> str | None:
        for hop in reversed(hops):
            candidate = hop.strip()
            # Empty list elements ("a, , b", an empty line) are no hop (RFC 9110 5.6.1).
            if candidate and not self.is_trusted(candidate):
                return candidate
        return None


def _is_ip(text: str) -> bool:
    """A client address: IPv4 or IPv6, without an IPv6 zone ("fe80::1%eth0" names a link
    on the sender's host, not a client; ingest would store no address for it)."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
