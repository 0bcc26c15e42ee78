"""SSRF guard: resolve a receiver's host once and refuse non-public addresses."""

from __future__ import annotations

import ipaddress
import socket

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """The destination resolves to an address webhooks must not reach."""


def _unwrap(ip: Address) -> Address:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def refusal(ip: Address, allow_private: bool = False) -> str:
    """Why an address is refused, or "" when webhooks may reach it."""
    ip = _unwrap(ip)
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if allow_private:  # development and tests: loopback and private receivers
        return ""
    for name in ("loopback", "link_local", "private", "reserved", "site_local"):
        if getattr(ip, f"is_{name}", False):
            return name.replace("_", "-")
    if not ip.is_global:
        return "not-global"
    return ""


def resolve(host: str, port: int, allow_private: bool = False) -> list[str]:
    """Every address of host, checked; the caller connects to these (pinned) only."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"cannot resolve {host!r}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))  # resolver order
    for address in addresses:
        why = refusal(ipaddress.ip_address(address.partition("%")[0]), allow_private)
        if why:
            raise Refused(f"{host} resolves to a {why} address ({address})")
    if not addresses:
        raise Refused(f"{host} has no address")
    return addresses
