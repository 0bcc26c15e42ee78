"""SSRF guard: resolve a receiver's host once and refuse non-public addresses."""

from __future__ import annotations

import ipaddress
import socket

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_net = ipaddress.ip_network


class Refused(ValueError):
    """The destination resolves to an address webhooks must not reach."""


# Refused even when private receivers are allowed: no receiver lives there, and the cloud
# metadata service (169.254.169.254) sits in link-local space. (AWS's IPv6 one,
# fd00:ec2::254, is a unique-local address: refused unless private ones are allowed.)
_THIS_NETWORK = _net("0.0.0.0/8")
# Opened by allow_private (development and tests): loopback and private networks only.
_PRIVATE = [_net(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]
_CGNAT = _net("100.64.0.0/10")  # carrier-grade NAT: a provider's internal hosts
# Special-purpose blocks that ipaddress counts as global on some Python versions.
_SPECIAL = [_net(n) for n in ("192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15", _CGNAT)]
_NAT64 = _net("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address


def _unwrap(ip: Address) -> Address:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), judged as such."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _always(ip: Address) -> str:
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.version == 4 and ip.is_reserved:  # 240/4 and broadcast
        return "reserved"
    return ""


def refusal(ip: Address, allow_private: bool = False) -> str:
    """Why an address is refused, or "" when webhooks may reach it."""
    ip = _unwrap(ip)
    why = _always(ip)
    if why:
        return why
    if allow_private and (ip.is_loopback or ip in _CGNAT or any(ip in n for n in _PRIVATE)):
        return ""
    for name in ("loopback", "private", "reserved", "site_local"):
        if getattr(ip, f"is_{name}", False):
            return name.replace("_", "-")
    if any(ip in n for n in _SPECIAL if n.version == ip.version):
        return "special-purpose"
    if not ip.is_global:
        return "not-global"
    return ""


def resolve(host: str, port: int, allow_private: bool = False) -> list[str]:
    """Every address of host, checked; the caller connects to these (pinned) only.

    The system resolver reads every textual form (2130706433, 0x7f000001, 0177.1, ...)
    into an address, and the check runs on that address, never on the text."""
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
