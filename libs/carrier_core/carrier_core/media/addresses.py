"""Which addresses outbound media may come from: the SSRF guard's rule.

An IPv6 address can carry an IPv4 one that a translator or tunnel reaches for us: NAT64
(64:ff9b::/96, RFC 6052), 6to4 (2002::/16, RFC 3056), IPv4-mapped (::ffff:0:0/96) and the
deprecated IPv4-compatible form (::/96). Python's `is_global` judges only the IPv6 prefix
(64:ff9b::a9fe:a9fe is "global"), so the IPv4 inside is judged by the IPv4 rules instead.
"""

from __future__ import annotations

import ipaddress

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# RFC 8215's local-use prefix: a network's own translator, which may put the IPv4 address at
# any of RFC 6052's offsets, so there is no one place to read it from. Refused whole.
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def forbidden(address: str) -> bool:
    """Private, loopback, link-local (the metadata service), site-local, reserved or
    multicast, directly or as the IPv4 address an IPv6 one carries."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in NAT64_LOCAL:
            return True
        embedded = embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return not ip.is_global or ip.is_multicast


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address `ip` stands for through a translator or tunnel, if it has one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or ip in IPV4_COMPATIBLE:  # the last 32 bits (:: and ::1 give 0.0.0.x)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None
