"""A forged TCP RST "middlebox", for recording what an injected reset looks like.

DPI boxes, IPS and some firewalls kill flows by injecting RSTs that claim to come from one
endpoint (reference ``proxy-interference.md`` §3.3, [S:WSP09], [S:CMW06]). This program plays
that part on loopback: it watches one live connection on ``lo`` with an ``AF_PACKET`` socket,
learns where the server->client byte stream stands, and a given time after the WebSocket
upgrade sends the client a RST+ACK that claims to come from the server (``--server``), built
by hand on an ``IPPROTO_RAW`` socket (``IP_HDRINCL``) so its IP header shows the tell-tales a
real injector leaves:

* an IP TTL different from the genuine server's (``--ttl``, default 47 against Linux's 64);
* an IP ID unrelated to the server's own IP ID sequence (random, far from the last one);
* no DF bit, where the genuine Linux server sets DF on every segment.

The sequence number is exact: the server's next sequence number (the last server segment's
seq + length), which on loopback is the client's RCV.NXT. Linux (RFC 5961) accepts only an
exact RST; an inexact in-window one would get a challenge ACK instead, which this program
watches for and reports. Only 127.0.0.0/8 addresses are accepted. Needs root.

Usage: ``python -m tools.recorder.inject --server 127.0.0.21:8080 --client 127.0.0.11 --after 3
[--log FILE]``.
It prints ``watching`` once the sniffer is attached (start it before the client) and
``injected`` after sending; its log lists every fact of the forged and the genuine packets.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import random
import socket
import struct
import sys
import time
from dataclasses import dataclass

from .logsetup import setup_logging

log = logging.getLogger("inject")

ETH_P_ALL = 0x0003
ETH_HEADER = 14  # lo has an Ethernet-shaped header with zero MACs
ETHERTYPE_IPV4 = 0x0800
PACKET_OUTGOING = 4  # each loopback packet is seen twice; keep the incoming copy only
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
SEQ_MOD = 2**32


@dataclass(frozen=True)
class Segment:
    """The fields of one IPv4/TCP packet this program needs."""

    src: str
    dst: str
    sport: int
    dport: int
    ttl: int
    ip_id: int
    df: bool
    seq: int
    ack: int
    flags: int
    payload: bytes

    @property
    def seq_end(self) -> int:
        """The sequence number after this segment (SYN and FIN count as one byte)."""
        extra = 1 if self.flags & (TCP_SYN | TCP_FIN) else 0
        return (self.seq + len(self.payload) + extra) % SEQ_MOD


def parse_segment(frame: bytes) -> Segment | None:
    """An Ethernet/IPv4/TCP frame from ``lo`` -> Segment; anything else -> None."""
    if len(frame) < ETH_HEADER + 40:
        return None
    if struct.unpack("!H", frame[12:14])[0] != ETHERTYPE_IPV4:
        return None
    ip = frame[ETH_HEADER:]
    ihl = (ip[0] & 0x0F) * 4
    total_length, ip_id, frag = struct.unpack("!HHH", ip[2:8])
    if ip[9] != socket.IPPROTO_TCP:
        return None
    tcp = ip[ihl:total_length]
    sport, dport, seq, ack, offset_flags = struct.unpack("!HHIIH", tcp[:14])
    data_offset = (offset_flags >> 12) * 4
    return Segment(
        src=socket.inet_ntoa(ip[12:16]),
        dst=socket.inet_ntoa(ip[16:20]),
        sport=sport,
        dport=dport,
        ttl=ip[8],
        ip_id=ip_id,
        df=bool(frag & 0x4000),
        seq=seq,
        ack=ack,
        flags=offset_flags & 0x3F,
        payload=bytes(tcp[data_offset:]),
    )


@dataclass
class FlowState:
    """What the sniffer knows about the watched connection (the client's first one)."""

    client: str
    server: str
    server_port: int
    client_port: int | None = None
    server_next: int | None = None  # next server->client sequence number
    client_next: int | None = None  # next client->server sequence number
    server_ttl: int | None = None
    server_ip_id: int | None = None
    upgraded_at: float | None = None  # monotonic time of the server's 101

    def direction(self, seg: Segment) -> str | None:
        """``"c2s"``/``"s2c"`` for packets of this flow, None for others."""
        if (seg.src, seg.dst, seg.dport) == (self.client, self.server, self.server_port):
            port = seg.sport
            kind = "c2s"
        elif (seg.src, seg.dst, seg.sport) == (self.server, self.client, self.server_port):
            port = seg.dport
            kind = "s2c"
        else:
            return None
        if self.client_port is None and kind == "c2s" and seg.flags & TCP_SYN:
            self.client_port = port
        return kind if port == self.client_port else None

    def update(self, seg: Segment, kind: str) -> None:
        """Advance the sequence state; remember the genuine server's TTL and IP ID."""
        if kind == "c2s":
            self.client_next = seg.seq_end
            return
        if seg.flags & TCP_RST:
            return  # never learn from a reset (ours included)
        self.server_next = seg.seq_end
        self.server_ttl, self.server_ip_id = seg.ttl, seg.ip_id
        if self.upgraded_at is None and seg.payload.startswith(b"HTTP/1.1 101"):
            self.upgraded_at = time.monotonic()
            log.info("saw the server's 101 (client port %s)", self.client_port)


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def forged_ip_id(genuine: int | None) -> int:
    """A random IP ID at least 4096 away from the server's last one (mod 2**16)."""
    while True:
        candidate = random.randrange(1, 0x10000)
        if (
            genuine is None
            or min((candidate - genuine) % 0x10000, (genuine - candidate) % 0x10000) >= 4096
        ):
            return candidate


def build_rst(flow: FlowState, ttl: int, ip_id: int) -> bytes:
    """IPv4 + TCP RST|ACK from the server to the client, seq = the client's RCV.NXT."""
    assert flow.client_port is not None and flow.server_next is not None
    src, dst = socket.inet_aton(flow.server), socket.inet_aton(flow.client)
    ack = flow.client_next or 0
    tcp = struct.pack(
        "!HHIIBBHHH",
        flow.server_port, flow.client_port, flow.server_next, ack,
        5 << 4, TCP_RST | TCP_ACK, 0, 0, 0,
    )  # fmt: skip
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ip_id, 0, ttl, socket.IPPROTO_TCP, 0, src, dst
    )  # no DF, unlike the genuine Linux sender
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + tcp


def open_sniffer(iface: str) -> socket.socket:
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sniffer.bind((iface, 0))
    sniffer.settimeout(0.05)
    return sniffer


def sniff_once(sniffer: socket.socket, flow: FlowState) -> tuple[Segment, str] | None:
    """One packet of the flow (incoming copy), or None on timeout or for other traffic."""
    try:
        frame, address = sniffer.recvfrom(65535)
    except TimeoutError:
        return None
    if address[2] == PACKET_OUTGOING:
        return None
    seg = parse_segment(frame)
    kind = flow.direction(seg) if seg else None
    if seg is None or kind is None:
        return None
    flow.update(seg, kind)
    return seg, kind


def watch_until(sniffer: socket.socket, flow: FlowState, after: float, limit: float) -> None:
    """Track the flow until ``after`` seconds past the server's 101 (``limit`` overall)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        sniff_once(sniffer, flow)
        if flow.upgraded_at is not None and time.monotonic() >= flow.upgraded_at + after:
            return
    raise SystemExit(f"no upgraded connection {flow.client} -> {flow.server} within {limit}s")


def inject(flow: FlowState, ttl: int) -> None:
    """Send the forged RST toward the client and log how it differs from the genuine side."""
    ip_id = forged_ip_id(flow.server_ip_id)
    packet = build_rst(flow, ttl, ip_id)
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        raw.sendto(packet, (flow.client, 0))
    log.warning(
        "injected RST|ACK %s:%d -> %s:%d seq=%d ack=%d ttl=%d ip_id=%d DF=0 "
        "(genuine server: ttl=%s last ip_id=%s DF=1)",
        flow.server, flow.server_port, flow.client, flow.client_port,
        flow.server_next, flow.client_next, ttl, ip_id, flow.server_ttl, flow.server_ip_id,
    )  # fmt: skip
    print("injected", flush=True)


def report_aftermath(sniffer: socket.socket, flow: FlowState, seconds: float) -> None:
    """Log what follows: a client ACK right after the RST would be an RFC 5961 challenge."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen = sniff_once(sniffer, flow)
        if seen is None:
            continue
        seg, kind = seen
        log.info(
            "after injection: %s flags=0x%02x seq=%d len=%d ttl=%d ip_id=%d",
            kind, seg.flags, seg.seq, len(seg.payload), seg.ttl, seg.ip_id,
        )  # fmt: skip
        if kind == "c2s" and seg.flags == TCP_ACK and not seg.payload:
            log.error("client sent a bare ACK after the RST: a challenge ACK, RST rejected?")


def loopback_endpoint(text: str) -> tuple[str, int]:
    """``127.x.y.z:port`` -> (address, port); refuses anything outside 127.0.0.0/8."""
    host, _, port = text.rpartition(":")
    check_loopback(host)
    return host, int(port)


def check_loopback(address: str) -> str:
    if ipaddress.ip_address(address) not in LOOPBACK:
        raise argparse.ArgumentTypeError(f"{address} is not in 127.0.0.0/8")
    return address


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", type=loopback_endpoint, default=("127.0.0.21", 8080))
    parser.add_argument("--client", type=check_loopback, default="127.0.0.11")
    parser.add_argument("--after", type=float, default=3.0, help="seconds after the 101")
    parser.add_argument("--ttl", type=int, default=47, help="IP TTL of the forged RST")
    parser.add_argument("--iface", default="lo")
    parser.add_argument("--limit", type=float, default=30.0, help="give up after N s")
    parser.add_argument("--aftermath", type=float, default=0.5, help="watch N s afterwards")
    parser.add_argument("--log", help="DEBUG log file (default stderr)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log)
    server, port = args.server
    flow = FlowState(client=args.client, server=server, server_port=port)
    with open_sniffer(args.iface) as sniffer:
        log.info("watching %s for %s -> %s:%d", args.iface, args.client, server, port)
        print("watching", flush=True)
        watch_until(sniffer, flow, args.after, args.limit)
        inject(flow, args.ttl)
        report_aftermath(sniffer, flow, args.aftermath)
    return 0


if __name__ == "__main__":
    sys.exit(main())
