"""An independent WebSocket decoder for packet captures, used as the tests' oracle.

wsdoctor reconstructs frames by driving tshark; checking it against tshark's own WebSocket
dissector would only prove that we read tshark's output the way we think. This module decodes
the same captures from the raw bytes instead, with nothing but the standard library: capture
file -> link layer -> IPv4/IPv6 -> TCP -> per-direction stream reassembly -> HTTP upgrade ->
RFC 6455 frames.

Conventions chosen to match what a capture analyser (and the wsdoctor contract) reports:

- a packet's frame number is its 1-based index among the file's packet records;
- a WebSocket frame is attributed to the packet that completed it, i.e. the highest frame number
  among the packets that delivered the stream bytes up to and including its last byte (for
  in-order traffic that is simply the packet that carried the last byte);
- the first copy of a byte wins: retransmissions, keep-alive probes and overlapping segments
  never replace bytes already seen.

Streams are decoded up to their first hole (a byte no captured packet carried): after a hole
frame boundaries cannot be trusted, so nothing past it is reported.
"""

from __future__ import annotations

import base64
import bisect
import gzip
import hashlib
import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# RFC 6455 §5.2 names, spelled as in the wsdoctor contract; restated here (not imported from
# analyzer) so the oracle shares nothing with the engine.
OPCODE_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
HTTP_METHODS = (b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT")

# --------------------------------------------------------------------------------------------
# Capture files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    """One packet record: frame number, capture time (ns since the epoch, None if the record
    has no timestamp, as in a pcapng Simple Packet Block), link type and captured bytes."""

    frame_no: int
    time_ns: int | None
    linktype: int
    data: bytes


def read_capture_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (the extension lies too
    often to trust)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        return gzip.decompress(raw)
    return raw


def read_packets(path: str | Path) -> Iterator[Packet]:
    """Every packet record of a pcap or pcapng file (optionally gzip-compressed), in file
    order."""
    buf = read_capture_bytes(path)
    if buf[:4] == b"\x0a\x0d\x0d\x0a":
        yield from _pcapng_packets(buf)
    else:
        yield from _pcap_packets(buf)


_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}


def _pcap_packets(buf: bytes) -> Iterator[Packet]:
    """Classic libpcap records; the magic gives byte order and timestamp resolution."""
    if buf[:4] not in _PCAP_MAGICS:
        raise ValueError(f"not a pcap/pcapng file (magic {buf[:4].hex()})")
    endian, frac_to_ns = _PCAP_MAGICS[buf[:4]]
    # The upper bits of the link type field carry FCS information, not the type.
    linktype = struct.unpack_from(endian + "I", buf, 20)[0] & 0xFFFF
    off, frame_no = 24, 0
    while off + 16 <= len(buf):
        sec, frac, incl, _orig = struct.unpack_from(endian + "IIII", buf, off)
        off += 16
        frame_no += 1
        yield Packet(
            frame_no, sec * 1_000_000_000 + frac * frac_to_ns, linktype, buf[off : off + incl]
        )
        off += incl


@dataclass
class _Interface:
    """What a pcapng Interface Description Block says about its packets."""

    linktype: int
    snaplen: int
    ticks_per_second: int = 1_000_000
    offset_s: int = 0


def _pcapng_packets(buf: bytes) -> Iterator[Packet]:
    """pcapng blocks: SHB resets byte order and interfaces, IDB declares link type and
    timestamp resolution, EPB/SPB/obsolete PB are packets; everything else is skipped."""
    endian, interfaces, off, frame_no = "<", list[_Interface](), 0, 0
    while off + 12 <= len(buf):
        if buf[off : off + 4] == b"\x0a\x0d\x0d\x0a":
            endian = "<" if buf[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        btype, blen = struct.unpack_from(endian + "II", buf, off)
        if blen < 12:
            raise ValueError(f"corrupt pcapng block at offset {off}")
        body = buf[off + 8 : off + blen - 4]
        off += blen
        if btype == 1:
            interfaces.append(_pcapng_interface(body, endian))
        elif btype in (2, 3, 6):
            frame_no += 1
            yield _pcapng_packet(btype, body, endian, interfaces, frame_no)


def _pcapng_interface(body: bytes, endian: str) -> _Interface:
    """Link type, snap length, if_tsresol (code 9) and if_tsoffset (code 14)."""
    linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", body, 0)
    iface = _Interface(linktype, snaplen)
    for code, value in _pcapng_options(body[8:], endian):
        if code == 9 and value:
            exp = value[0] & 0x7F
            iface.ticks_per_second = 2**exp if value[0] & 0x80 else 10**exp
        elif code == 14 and len(value) >= 8:
            iface.offset_s = struct.unpack_from(endian + "q", value)[0]
    return iface


def _pcapng_options(data: bytes, endian: str) -> Iterator[tuple[int, bytes]]:
    """TLV options, each value padded to 32 bits, ended by opt_endofopt or the data's end."""
    pos = 0
    while pos + 4 <= len(data):
        code, length = struct.unpack_from(endian + "HH", data, pos)
        if code == 0:
            return
        yield code, data[pos + 4 : pos + 4 + length]
        pos += 4 + (length + 3) // 4 * 4


def _pcapng_packet(
    btype: int, body: bytes, endian: str, interfaces: list[_Interface], frame_no: int
) -> Packet:
    """One packet block, its timestamp converted from interface ticks to nanoseconds."""
    if btype == 3:  # Simple Packet Block: interface 0, no timestamp, snaplen-bounded data.
        iface = interfaces[0]
        (orig_len,) = struct.unpack_from(endian + "I", body, 0)
        caplen = min(orig_len, iface.snaplen or orig_len, len(body) - 4)
        return Packet(frame_no, None, iface.linktype, body[4 : 4 + caplen])
    if btype == 6:
        if_id, ts_hi, ts_lo, caplen, _orig = struct.unpack_from(endian + "IIIII", body, 0)
        data = body[20 : 20 + caplen]
    else:  # obsolete Packet Block: 16-bit interface id and drops count
        if_id, _drops, ts_hi, ts_lo, caplen, _orig = struct.unpack_from(endian + "HHIIII", body)
        data = body[20 : 20 + caplen]
    iface = interfaces[if_id]
    ticks = (ts_hi << 32) | ts_lo
    time_ns = ticks * 1_000_000_000 // iface.ticks_per_second + iface.offset_s * 1_000_000_000
    return Packet(frame_no, time_ns, iface.linktype, data)


# --------------------------------------------------------------------------------------------
# Link layer, IP, TCP
# --------------------------------------------------------------------------------------------

ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
VLAN_ETHERTYPES = frozenset({0x8100, 0x88A8, 0x9100})
RAW_IP_LINKTYPES = frozenset({101, 12, 14, 228, 229})


@dataclass(frozen=True)
class TcpSegment:
    """The TCP facts reassembly needs, with endpoints already formatted as "ip:port"."""

    frame_no: int
    time_ns: int | None
    src: str
    dst: str
    seq: int
    flags: int
    payload: bytes

    @property
    def syn(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def ack(self) -> bool:
        return bool(self.flags & 0x10)


def link_payload(linktype: int, data: bytes) -> bytes | None:
    """The IP packet inside a link-layer frame, or None for non-IP traffic."""
    if linktype == 1:  # Ethernet, possibly with stacked 802.1Q/802.1ad tags
        return _after_ethertype(data, 12)
    if linktype == 113:  # Linux cooked capture v1: protocol at offset 14
        return _after_ethertype(data, 14)
    if linktype == 276:  # Linux cooked capture v2: protocol at offset 0, 20-byte header
        return _ip_by_ethertype(struct.unpack_from(">H", data, 0)[0], data[20:])
    if linktype in RAW_IP_LINKTYPES:
        return data
    if linktype in (0, 108):  # BSD loopback: 4-byte address family (host / network order)
        family = struct.unpack_from("<I" if linktype == 0 else ">I", data, 0)[0]
        if family > 0xFFFF:
            family = struct.unpack_from(">I", data, 0)[0]
        return data[4:] if family in (2, 24, 28, 30) else None
    return None


def _after_ethertype(data: bytes, pos: int) -> bytes | None:
    """Follow the EtherType at `pos`, skipping VLAN tags, to the IP header."""
    if len(data) < pos + 2:
        return None
    ethertype = struct.unpack_from(">H", data, pos)[0]
    while ethertype in VLAN_ETHERTYPES and len(data) >= pos + 6:
        pos += 4
        ethertype = struct.unpack_from(">H", data, pos)[0]
    return _ip_by_ethertype(ethertype, data[pos + 2 :])


def _ip_by_ethertype(ethertype: int, payload: bytes) -> bytes | None:
    """Only IPv4 and IPv6 carry the TCP we decode; ARP, LLDP and friends are skipped."""
    return payload if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6) else None


def ip_tcp_payload(packet: bytes) -> tuple[str, str, bytes] | None:
    """(source address, destination address, TCP header+payload) of an unfragmented IPv4 or
    IPv6 packet carrying TCP; link-layer padding is trimmed using the IP length field."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        ihl = (packet[0] & 0x0F) * 4
        total, frag, proto = struct.unpack_from(">H2xHxB", packet, 2)
        if proto != 6 or frag & 0x3FFF:  # not TCP, or an IP fragment
            return None
        end = total if total else len(packet)  # 0 happens with TSO on the sending host
        src, dst = (str(ipaddress.IPv4Address(packet[i : i + 4])) for i in (12, 16))
        return src, dst, packet[ihl:end]
    if version == 6 and len(packet) >= 40:
        return _ipv6_tcp(packet)
    return None


_IPV6_EXTENSION_HEADERS = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options


def _ipv6_tcp(packet: bytes) -> tuple[str, str, bytes] | None:
    """Walk IPv6 extension headers to TCP; fragments (44) are not reassembled."""
    plen, nxt = struct.unpack_from(">HB", packet, 4)
    src, dst = (f"[{ipaddress.IPv6Address(packet[i : i + 16])}]" for i in (8, 24))
    end = 40 + plen if plen else len(packet)
    pos = 40
    while nxt in _IPV6_EXTENSION_HEADERS and pos + 2 <= len(packet):
        nxt, hdr_len = packet[pos], (packet[pos + 1] + 1) * 8
        pos += hdr_len
    if nxt != 6:
        return None
    return src, dst, packet[pos:end]


def tcp_segment(pkt: Packet) -> TcpSegment | None:
    """Decode a packet down to its TCP segment, or None if it is not TCP over IP."""
    ip = link_payload(pkt.linktype, pkt.data)
    parsed = ip_tcp_payload(ip) if ip is not None else None
    if parsed is None or len(parsed[2]) < 20:
        return None
    src, dst, tcp = parsed
    sport, dport, seq, _ack, off_flags = struct.unpack_from(">HHIIH", tcp, 0)
    data_off = (off_flags >> 12) * 4
    return TcpSegment(
        frame_no=pkt.frame_no,
        time_ns=pkt.time_ns,
        src=f"{src}:{sport}",
        dst=f"{dst}:{dport}",
        seq=seq,
        flags=off_flags & 0x1FF,
        payload=tcp[data_off:],
    )


# --------------------------------------------------------------------------------------------
# Stream reassembly
# --------------------------------------------------------------------------------------------


def _rel32(seq: int, ref: int) -> int:
    """Signed distance from ref to seq in 32-bit sequence space (handles wrap-around)."""
    d = (seq - ref) & 0xFFFFFFFF
    return d - (1 << 32) if d >= 1 << 31 else d


@dataclass
class Stream:
    """One direction's bytes in sequence order, and which packet delivered each byte."""

    data: bytes = b""
    chunk_starts: list[int] = field(default_factory=list)
    chunk_frames: list[int] = field(default_factory=list)  # frame that delivered the chunk
    ready_frames: list[int] = field(default_factory=list)  # running max of chunk_frames
    duplicate_bytes: int = 0  # bytes that arrived again (retransmission / overlap)
    out_of_order_segments: int = 0  # segments that arrived beyond the contiguous end
    hole_at: int | None = None  # offset of the first missing byte, if later bytes exist

    def delivered_by(self, offset: int) -> int:
        """The packet that carried the byte at `offset`."""
        return self.chunk_frames[bisect.bisect_right(self.chunk_starts, offset) - 1]

    def ready_at(self, end: int) -> int:
        """The packet after which every byte before `end` had arrived: when a receiver (or a
        dissector) could first see the data ending at `end`."""
        return self.ready_frames[bisect.bisect_right(self.chunk_starts, end - 1) - 1]


class _StreamBuilder:
    """Collects one direction's segments, then lays them out by sequence number."""

    def __init__(self) -> None:
        self.isn: int | None = None
        self.segments: list[tuple[int, bytes, int]] = []  # (data seq, payload, frame_no)

    def add(self, seg: TcpSegment) -> None:
        """Keep data segments in arrival order; the SYN fixes where the stream starts."""
        if seg.syn and self.isn is None:
            self.isn = seg.seq
        if seg.payload and not seg.flags & 0x04:  # data on a RST is diagnostic text
            self.segments.append((seg.seq + (1 if seg.syn else 0), seg.payload, seg.frame_no))

    def build(self) -> Stream:
        """Place segments in arrival order; the first copy of each byte wins."""
        stream = Stream()
        if not self.segments:
            return stream
        base = self.isn + 1 if self.isn is not None else self._lowest_seq()
        covered: list[tuple[int, int]] = []  # disjoint, sorted [start, end) already filled
        pieces: list[tuple[int, int, bytes]] = []  # (start, frame, bytes) new data only
        for seq, payload, frame_no in self.segments:
            start = _rel32(seq, base)
            contiguous_end = covered[0][1] if covered and covered[0][0] == 0 else 0
            if start > contiguous_end:
                stream.out_of_order_segments += 1
            gaps = _uncovered(covered, max(start, 0), start + len(payload))
            for lo, hi in gaps:
                pieces.append((lo, frame_no, payload[lo - start : hi - start]))
                _cover(covered, lo, hi)
            stream.duplicate_bytes += len(payload) - sum(hi - lo for lo, hi in gaps)
        return _layout(stream, pieces)

    def _lowest_seq(self) -> int:
        """Without a SYN, the stream starts at the lowest sequence number seen."""
        ref = self.segments[0][0]
        return min(self.segments, key=lambda s: _rel32(s[0], ref))[0]


def _uncovered(covered: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """The parts of [lo, hi) not yet in `covered`."""
    gaps, pos = [], lo
    i = max(bisect.bisect_right(covered, (lo, lo)) - 1, 0)
    for c_lo, c_hi in covered[i:]:
        if c_lo >= hi:
            break
        if c_lo > pos:
            gaps.append((pos, min(c_lo, hi)))
        pos = max(pos, c_hi)
    if pos < hi:
        gaps.append((pos, hi))
    return gaps


def _cover(covered: list[tuple[int, int]], lo: int, hi: int) -> None:
    """Insert [lo, hi) (known not to overlap) and merge it with touching neighbours."""
    i = bisect.bisect_left(covered, (lo, hi))
    covered.insert(i, (lo, hi))
    if i + 1 < len(covered) and covered[i + 1][0] == hi:
        covered[i : i + 2] = [(lo, covered[i + 1][1])]
    if i > 0 and covered[i - 1][1] == lo:
        covered[i - 1 : i + 1] = [(covered[i - 1][0], covered[i][1])]


def _layout(stream: Stream, pieces: list[tuple[int, int, bytes]]) -> Stream:
    """Concatenate the contiguous prefix starting at offset 0 and index it by offset."""
    pieces.sort(key=lambda p: p[0])
    parts: list[bytes] = []
    expected, running = 0, 0
    for start, frame_no, data in pieces:
        if start != expected:
            stream.hole_at = expected  # nothing after a hole is usable
            break
        parts.append(data)
        stream.chunk_starts.append(start)
        stream.chunk_frames.append(frame_no)
        running = max(running, frame_no)
        stream.ready_frames.append(running)
        expected += len(data)
    stream.data = b"".join(parts)
    return stream


# --------------------------------------------------------------------------------------------
# HTTP upgrade
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpHead:
    """A request or response head: start line, headers (lower-cased names, repeated headers
    joined with ", ") and the stream offset just past the blank line."""

    start_line: str
    headers: dict[str, str]
    end: int

    def tokens(self, name: str) -> set[str]:
        """A comma-separated header's tokens, lower-cased (Connection, Upgrade...)."""
        return {t.strip().lower() for t in self.headers.get(name, "").split(",") if t.strip()}


def parse_head(data: bytes, pos: int) -> HttpHead | None:
    """The HTTP head starting at `pos`, or None if it is incomplete (no blank line yet)."""
    end = data.find(b"\r\n\r\n", pos)
    if end < 0:
        return None
    lines = data[pos:end].decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return HttpHead(lines[0], headers, end + 4)


def looks_like_request(data: bytes) -> bool:
    """Does the stream start with an HTTP request line?"""
    return any(data.startswith(m + b" ") for m in HTTP_METHODS)


def _requests(data: bytes) -> list[HttpHead]:
    """Pipelined request heads; bodies skipped by Content-Length. Stops at the first upgrade
    request, since whatever follows it may already be WebSocket frames."""
    heads, pos = [], 0
    while looks_like_request(data[pos:]) and (head := parse_head(data, pos)) is not None:
        heads.append(head)
        if "websocket" in head.tokens("upgrade"):
            break
        pos = head.end + _content_length(head)
    return heads


def _content_length(head: HttpHead) -> int:
    """A request body's length (0 when absent or unparseable: requests have no other
    framing we need to follow)."""
    value = head.headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else 0


def _final_responses(data: bytes) -> list[HttpHead]:
    """Final (non-1xx) response heads, plus a 101 which ends HTTP on the connection."""
    heads, pos = [], 0
    while data.startswith(b"HTTP/", pos) and (head := parse_head(data, pos)) is not None:
        status = _status(head)
        if status is not None and 100 <= status < 200 and status != 101:
            pos = head.end
            continue
        heads.append(head)
        body = _body_length(head, data)
        if status == 101 or body is None:
            break
        pos = head.end + body
    return heads


def _status(head: HttpHead) -> int | None:
    """A response's status code (None for a malformed status line)."""
    parts = head.start_line.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _body_length(head: HttpHead, data: bytes) -> int | None:
    """Length of a response body, or None when it runs to the connection's end."""
    if _status(head) in (204, 304):
        return 0
    if "chunked" in head.tokens("transfer-encoding"):
        return _chunked_length(data, head.end)
    length = head.headers.get("content-length", "").strip()
    return int(length) if length.isdigit() else None


def _chunked_length(data: bytes, start: int) -> int | None:
    """Bytes taken by a chunked body (chunks, last chunk, trailers)."""
    pos = start
    while (eol := data.find(b"\r\n", pos)) >= 0:
        size = int(data[pos:eol].split(b";")[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            trailer_end = data.find(b"\r\n\r\n", pos - 2)
            return trailer_end + 4 - start if trailer_end >= 0 else None
        pos += size + 2
    return None


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a correct server derives from the client's key (RFC 6455
    §4.2.2), recomputed here rather than imported from the engine."""
    digest = hashlib.sha1(key.strip().encode("latin-1") + WEBSOCKET_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class Handshake:
    """The upgrade request and its response (if seen)."""

    request: HttpHead
    response: HttpHead | None

    @property
    def target(self) -> str:
        parts = self.request.start_line.split(" ")
        return parts[1] if len(parts) > 1 else ""

    @property
    def status(self) -> int | None:
        return _status(self.response) if self.response else None

    @property
    def accept_valid(self) -> bool | None:
        if self.response is None or "sec-websocket-key" not in self.request.headers:
            return None
        got = self.response.headers.get("sec-websocket-accept", "")
        return got == accept_for(self.request.headers["sec-websocket-key"])


def find_handshake(client: bytes, server: bytes) -> Handshake | None:
    """Pair requests with final responses in order and return the WebSocket upgrade."""
    requests, responses = _requests(client), _final_responses(server)
    for i, request in enumerate(requests):
        if "websocket" in request.tokens("upgrade"):
            return Handshake(request, responses[i] if i < len(responses) else None)
    return None


# --------------------------------------------------------------------------------------------
# RFC 6455 frames
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WsFrame:
    """One decoded WebSocket frame."""

    from_client: bool
    fin: bool
    rsv: int  # RSV1..RSV3 as a 3-bit number (RSV1 = 4)
    opcode: int
    masked: bool
    payload_len: int  # the real (extended) length, as on the wire
    payload: bytes  # unmasked
    frame_no: int  # packet that completed the frame
    first_frame_no: int  # packet that carried its first byte
    time_ns: int | None  # capture time of frame_no
    stream_offset: int  # where the frame header starts in its direction's stream

    @property
    def time(self) -> float | None:
        """Seconds since the epoch (float; use time_ns for exact comparisons)."""
        return None if self.time_ns is None else self.time_ns / 1e9

    @property
    def opcode_name(self) -> str:
        return OPCODE_NAMES.get(self.opcode, f"reserved-{self.opcode}")

    @property
    def close_code(self) -> int | None:
        if self.opcode != 8 or len(self.payload) < 2:
            return None
        return struct.unpack_from(">H", self.payload)[0]

    @property
    def close_reason(self) -> str | None:
        if self.opcode != 8 or len(self.payload) < 2:
            return None
        return self.payload[2:].decode("utf-8", errors="replace")


def _frame_header(data: bytes, pos: int) -> tuple[int, int, bytes, int] | None:
    """(b0, payload length, masking key, header size) of the frame at pos, None if cut off."""
    if pos + 2 > len(data):
        return None
    b0, b1 = data[pos], data[pos + 1]
    size, length = 2, b1 & 0x7F
    if length == 126:
        size = 4
    elif length == 127:
        size = 10
    if b1 & 0x80:
        size += 4
    if pos + size > len(data):
        return None
    if length == 126:
        length = struct.unpack_from(">H", data, pos + 2)[0]
    elif length == 127:
        length = struct.unpack_from(">Q", data, pos + 2)[0]
    key = data[pos + size - 4 : pos + size] if b1 & 0x80 else b""
    return b0, length, key, size


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte masking key (RFC 6455 §5.3); fast via big-int XOR."""
    if not key or not payload:
        return payload
    stream = (key * (len(payload) // 4 + 1))[: len(payload)]
    n = int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")
    return n.to_bytes(len(payload), "big")


def decode_frames(
    stream: Stream, start: int, from_client: bool, times: dict[int, int | None]
) -> list[WsFrame]:
    """Every complete frame in `stream` from `start`; a trailing partial frame is left out,
    just as a dissector cannot show a frame it has not seen the end of."""
    frames, data, pos = [], stream.data, start
    while (header := _frame_header(data, pos)) is not None:
        b0, length, key, size = header
        end = pos + size + length
        if end > len(data):
            break
        frame_no = stream.ready_at(end)
        frames.append(
            WsFrame(
                from_client=from_client,
                fin=bool(b0 & 0x80),
                rsv=(b0 >> 4) & 7,
                opcode=b0 & 0x0F,
                masked=bool(key),
                payload_len=length,
                payload=unmask(data[pos + size : end], key),
                frame_no=frame_no,
                first_frame_no=stream.delivered_by(pos),
                time_ns=times[frame_no],
                stream_offset=pos,
            )
        )
        pos = end
    return frames


# --------------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------------


@dataclass
class Connection:
    """One TCP connection, oriented client -> server, with its WebSocket decoding."""

    client: str
    server: str
    first_frame_no: int
    client_stream: Stream
    server_stream: Stream
    syn_seen: bool
    handshake: Handshake | None
    frames: list[WsFrame]

    @property
    def status(self) -> int | None:
        return self.handshake.status if self.handshake else None

    @property
    def is_websocket(self) -> bool:
        """An upgrade request to WebSocket is visible on this connection."""
        return self.handshake is not None


class _ConnBuilder:
    """Segments of one connection, before we know which side is the client."""

    def __init__(self, first: TcpSegment) -> None:
        self.first_frame_no = first.frame_no
        self.first_src, self.first_dst = first.src, first.dst
        self.client: str | None = None
        self.client_isn: int | None = None
        self.streams: dict[str, _StreamBuilder] = {
            first.src: _StreamBuilder(),
            first.dst: _StreamBuilder(),
        }

    def add(self, seg: TcpSegment) -> None:
        """The first SYN names the client; a SYN-ACK names it too if the SYN was missed."""
        if seg.syn and not seg.ack and self.client is None:
            self.client, self.client_isn = seg.src, seg.seq
        elif seg.syn and seg.ack and self.client is None:
            self.client = seg.dst
        self.streams[seg.src].add(seg)

    def is_new_syn(self, seg: TcpSegment) -> bool:
        """A SYN with a fresh ISN on a known 4-tuple is a new connection (port reuse)."""
        return (
            seg.syn and not seg.ack and self.client_isn is not None and seg.seq != self.client_isn
        )

    def build(self, times: dict[int, int | None]) -> Connection:
        """Reassemble both directions, find the upgrade, and decode frames only after a 101
        (before it the bytes are HTTP, and a refused upgrade never switches protocols)."""
        streams = {side: b.build() for side, b in self.streams.items()}
        syn_seen = self.client is not None
        client = self.client or self._client_by_http(streams)
        server = self.first_dst if client == self.first_src else self.first_src
        cs, ss = streams[client], streams[server]
        handshake = find_handshake(cs.data, ss.data)
        frames: list[WsFrame] = []
        if handshake and handshake.status == 101 and handshake.response is not None:
            frames = decode_frames(cs, handshake.request.end, True, times)
            frames += decode_frames(ss, handshake.response.end, False, times)
            frames.sort(key=lambda f: (f.frame_no, not f.from_client, f.stream_offset))
        return Connection(client, server, self.first_frame_no, cs, ss, syn_seen, handshake, frames)

    def _client_by_http(self, streams: dict[str, Stream]) -> str:
        """Without a SYN: the side whose stream starts with a request line; failing that,
        whoever sent the first packet."""
        if looks_like_request(streams[self.first_dst].data):
            return self.first_dst
        return self.first_src


def decode_capture(path: str | Path) -> list[Connection]:
    """All TCP connections in the capture, in order of their first packet, each decoded as
    far as the raw bytes allow."""
    open_conns: dict[frozenset[str], _ConnBuilder] = {}
    done: list[_ConnBuilder] = []
    times: dict[int, int | None] = {}
    for pkt in read_packets(path):
        seg = tcp_segment(pkt)
        if seg is None:
            continue
        times[seg.frame_no] = seg.time_ns
        key = frozenset((seg.src, seg.dst))
        builder = open_conns.get(key)
        if builder is None or builder.is_new_syn(seg):
            if builder is not None:
                done.append(builder)
            builder = open_conns[key] = _ConnBuilder(seg)
        builder.add(seg)
    done.extend(open_conns.values())
    done.sort(key=lambda b: b.first_frame_no)
    return [b.build(times) for b in done]


def websocket_connections(path: str | Path) -> list[Connection]:
    """Only the connections with a visible WebSocket upgrade request."""
    return [c for c in decode_capture(path) if c.is_websocket]
