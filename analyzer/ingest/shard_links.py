"""A packet's TCP connection from its raw bytes, for cutting a capture into shards.

Only the headers that name a connection are read: the link layer (Ethernet with VLAN
tags, Linux cooked v1/v2, raw IP, BSD loopback), IPv4 or IPv6 (with its hop-by-hop,
routing and destination-options headers), and the two TCP ports. The key is the same for
both directions. An ICMP error that quotes a TCP header belongs to the quoted connection,
as tshark's TCP dissector treats it.
"""

from __future__ import annotations


class Unshardable(Exception):
    """The capture holds something the shard reader cannot route with certainty."""


ETHERNET, LINUX_SLL, LINUX_SLL2, NULL, LOOP = 1, 113, 276, 0, 108
RAW = frozenset({101, 12, 14})
IPV4_ONLY, IPV6_ONLY = 228, 229
VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100})
IPV4, IPV6 = 0x0800, 0x86DD
TCP, ICMP, ICMPV6, FRAGMENT = 6, 1, 58, 44
ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})
ICMPV6_ERRORS = frozenset({1, 2, 3, 4})
V6_OPTIONS = frozenset({0, 43, 60})
BSD_INET6 = frozenset({24, 28, 30})


def connection_key(link: int, data: memoryview | bytes) -> bytes | None:
    """source address, destination address, source port, destination port (raw bytes);
    None when the packet is not TCP. The other direction's key is `reverse(key)`."""
    try:
        family, at = _network(link, data)
        if family == IPV4:
            return _ipv4(data, at, quoted=False)
        if family == IPV6:
            return _ipv6(data, at, quoted=False)
        return None
    except IndexError:
        return None  # too short to hold an IP header: tshark prints no TCP for it either


def _network(link: int, d: memoryview | bytes) -> tuple[int, int]:
    """(ethertype of the network layer, its offset)."""
    if link == ETHERNET:
        at, kind = 14, d[12] << 8 | d[13]
        while kind in VLAN_TAGS:
            kind, at = d[at + 2] << 8 | d[at + 3], at + 4
        return kind, at
    if link == LINUX_SLL:
        return d[14] << 8 | d[15], 16
    if link == LINUX_SLL2:
        return d[0] << 8 | d[1], 20
    if link in RAW:
        return (IPV4 if d[0] >> 4 == 4 else IPV6 if d[0] >> 4 == 6 else 0), 0
    if link == IPV4_ONLY:
        return IPV4, 0
    if link == IPV6_ONLY:
        return IPV6, 0
    if link in (NULL, LOOP):
        family = max(d[0], d[3])  # host byte order for NULL, network order for LOOP
        return (IPV4 if family == 2 else IPV6 if family in BSD_INET6 else 0), 4
    raise Unshardable(f"link type {link}")


def _ipv4(d: memoryview | bytes, at: int, quoted: bool) -> bytes | None:
    if d[at] >> 4 != 4:
        return None
    if (d[at + 6] << 8 | d[at + 7]) & 0x3FFF:
        raise Unshardable("IP fragments")
    proto, start = d[at + 9], at + (d[at] & 0x0F) * 4
    if proto == TCP:
        return _key(d, at + 12, at + 16, 4, start)
    if proto == ICMP and not quoted and d[start] in ICMP_ERRORS and len(d) > start + 8:
        return _ipv4(d, start + 8, quoted=True)
    return None


def _ipv6(d: memoryview | bytes, at: int, quoted: bool) -> bytes | None:
    if d[at] >> 4 != 6:
        return None
    proto, start = d[at + 6], at + 40
    while proto in V6_OPTIONS:
        proto, start = d[start], start + (d[start + 1] + 1) * 8
    if proto == FRAGMENT:
        raise Unshardable("IPv6 fragments")
    if proto == TCP:
        return _key(d, at + 8, at + 24, 16, start)
    if proto == ICMPV6 and not quoted and d[start] in ICMPV6_ERRORS and len(d) > start + 8:
        return _ipv6(d, start + 8, quoted=True)
    return None


def _key(d: memoryview | bytes, src: int, dst: int, size: int, tcp: int) -> bytes:
    if len(d) < tcp + 4:
        raise Unshardable("a TCP header cut before its ports")
    return bytes(d[src : src + size]) + bytes(d[dst : dst + size]) + bytes(d[tcp : tcp + 4])


def reverse(key: bytes) -> bytes:
    """The key of the other direction of the same connection."""
    size = (len(key) - 4) // 2
    return key[size : 2 * size] + key[:size] + key[-2:] + key[-4:-2]
