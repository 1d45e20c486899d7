"""Which IP addresses are public: the judgement behind briefbot's refusal of internal URLs.

Loopback, private, link-local (the cloud metadata address among them), shared,
multicast, reserved and unspecified addresses are not public, and neither is an IPv6
address that carries one of those IPv4 addresses inside (mapped, compatible, 6to4,
NAT64). `retrieval.fetch` applies this to every hop's resolved addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

# Ranges ipaddress leaves out of its flags or counts as global in some Python versions.
SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
RFC1918 = tuple(map(ipaddress.ip_network, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")))
ULA = ipaddress.ip_network("fc00::/7")
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: a translator reaches the IPv4 inside
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SockAddr = tuple[Any, ...]


def refusal(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is ("a loopback address"), or None for a public
    unicast one. IPv6 forms that carry an IPv4 address (mapped, compatible, 6to4, NAT64)
    are judged by the IPv4 address inside."""
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        return refusal(inner)
    kinds = [
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip in SHARED, "a shared (carrier-grade NAT) address"),
        (any(ip in net for net in (*RFC1918, ULA)), "a private address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "a special-purpose address, not a public one"),
    ]
    return next((kind for matches, kind in kinds if matches), None)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):  # not :: or ::1 themselves
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def numeric_addresses(host: str) -> list[IPAddress]:
    """The address an IP literal stands for, parsed by the resolver itself (so every legacy
    IPv4 spelling it accepts is seen as it will connect); [] for a name."""
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return []
    return [address_of(info[4]) for info in infos]


def address_of(sockaddr: SockAddr) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
