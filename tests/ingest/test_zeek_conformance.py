"""Conformance: wsdoctor's frame timeline equals an independent decoding of real captures.

The oracle is tests/independent_ws.py, which decodes pcap/pcapng -> IP -> TCP reassembly ->
HTTP upgrade -> RFC 6455 frames from the raw bytes in pure Python. It never runs tshark, so a
misreading of tshark's output (comma-joined fields, the 7-bit length field, coalesced frames)
shows up here as a mismatch instead of being confirmed by the same tool.

The inputs are the Zeek project's WebSocket test traces in ../shared/zeek-traces (beside the
repository; they are not copied into it). Three groups of tests:

- test_engine_*: run the real CLI (`python -m analyzer frames|sessions ... --format json`) and
  compare with the oracle, per trace;
- test_hand_checked_*: the tricky traces' full frame lists, written down from reading their
  bytes, asserted against both the oracle and the engine;
- test_independent_decoder_*: the oracle's own checks, including the same captures re-encoded
  in other container/link-layer formats and with TCP misbehaviour injected.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
import re
import struct
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import independent_ws as iw

REPO = Path(__file__).resolve().parents[2]
ZEEK_DIR = REPO.parent / "shared" / "zeek-traces"
TRACES = sorted(p.name for p in ZEEK_DIR.glob("*.pcap*")) if ZEEK_DIR.is_dir() else []

# (from_client, fin, opcode, payload_len, close_code, frame): what must match exactly.
FrameKey = tuple[bool, bool, str, int, int | None, int]

# Adjust here if the CLI's spelling changes; both are the contract's commands.
FRAMES_ARGS = ("frames", "{trace}", "--format", "json", "-o", "-")
SESSIONS_ARGS = ("sessions", "{trace}", "--format", "json")


# --------------------------------------------------------------------------------------------
# Running the engine and the oracle (each once per trace)
# --------------------------------------------------------------------------------------------


def run_cli(args: tuple[str, ...], trace: str) -> Any:
    """Run the real CLI in a subprocess, as users and CI do, and parse its JSON stdout."""
    argv = [sys.executable, "-m", "analyzer", *(a.format(trace=ZEEK_DIR / trace) for a in args)]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}"
    return json.loads(proc.stdout)


@functools.cache
def engine_frames(trace: str) -> list[dict[str, Any]]:
    """`wsdoctor frames TRACE --format json -o -`, run once per trace."""
    frames = run_cli(FRAMES_ARGS, trace)
    assert isinstance(frames, list), "frames --format json must be a JSON list"
    return frames


@functools.cache
def engine_sessions(trace: str) -> list[dict[str, Any]]:
    """`wsdoctor sessions TRACE --format json`, run once per trace."""
    sessions = run_cli(SESSIONS_ARGS, trace)
    assert isinstance(sessions, list), "sessions --format json must be a JSON list"
    return sessions


@functools.cache
def oracle(trace: str) -> tuple[iw.Connection, ...]:
    """The independent decoding: connections with a visible WebSocket upgrade request."""
    return tuple(iw.websocket_connections(ZEEK_DIR / trace))


def oracle_keys(conn: iw.Connection) -> list[FrameKey]:
    """The oracle's frames as keys, already in capture order."""
    return [
        (f.from_client, f.fin, f.opcode_name, f.payload_len, f.close_code, f.frame_no)
        for f in conn.frames
    ]


def engine_keys(frames: list[dict[str, Any]]) -> list[FrameKey]:
    """The engine's frames of one session as keys, in capture order. The sort is stable, so
    several frames from one packet keep the order the engine listed them in."""
    ordered = sorted(frames, key=lambda f: f["frame"])
    return [
        (f["from_client"], f["fin"], f["opcode"], f["payload_len"], f["close_code"], f["frame"])
        for f in ordered
    ]


def paired_sessions(trace: str) -> list[tuple[iw.Connection, dict[str, Any] | None]]:
    """Each oracle connection with the engine session for the same (client, server); if a
    4-tuple was reused, the n-th connection pairs with the n-th session (by id order)."""
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for session in sorted(engine_sessions(trace), key=lambda s: _id_order(s["id"])):
        by_pair[(session["client"], session["server"])].append(session)
    pairs = []
    for conn in oracle(trace):
        candidates = by_pair[(conn.client, conn.server)]
        pairs.append((conn, candidates.pop(0) if candidates else None))
    return pairs


def _id_order(session_id: str) -> tuple[int, str]:
    """Sort session ids numerically (s9 before s10): the contract orders them by start."""
    digits = re.sub(r"\D", "", session_id)
    return (int(digits) if digits else 0, session_id)


def frames_by_session(trace: str) -> dict[str, list[dict[str, Any]]]:
    """The engine's frame list split by session id, keeping its order."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for frame in engine_frames(trace):
        grouped[frame["session"]].append(frame)
    return grouped


def diff_text(expected: list[FrameKey], actual: list[FrameKey]) -> str:
    """A readable side-by-side of two frame lists, for the assertion message."""
    lines = ["   expected (independent)                          | engine"]
    for i in range(max(len(expected), len(actual))):
        exp = expected[i] if i < len(expected) else "-"
        act = actual[i] if i < len(actual) else "-"
        mark = "  " if exp == act else "!!"
        lines.append(f"{mark} {exp!s:<48} | {act}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Engine vs oracle, every trace
# --------------------------------------------------------------------------------------------


def test_zeek_traces_present() -> None:
    """An empty parametrisation would silently skip the whole suite; insist on the traces."""
    assert ZEEK_DIR.is_dir(), f"missing {ZEEK_DIR} (the shared Zeek traces)"
    assert set(HAND_CHECKED) <= set(TRACES)
    assert len(TRACES) >= 12


@pytest.mark.parametrize("trace", TRACES)
def test_engine_sessions_match_independent_connections(trace: str) -> None:
    """One engine session per visible WebSocket upgrade, keyed by (client, server), and
    every frame belongs to a listed session."""
    sessions = engine_sessions(trace)
    ours = sorted((c.client, c.server) for c in oracle(trace))
    theirs = sorted((s["client"], s["server"]) for s in sessions)
    assert theirs == ours
    ids = {s["id"] for s in sessions}
    assert len(ids) == len(sessions), "session ids must be unique"
    assert {f["session"] for f in engine_frames(trace)} <= ids


@pytest.mark.parametrize("trace", TRACES)
def test_engine_frames_match_independent_decoding(trace: str) -> None:
    """The exact per-session frame sequence: direction, FIN, opcode, on-the-wire payload
    length, close code and the frame number of the packet that completed the frame."""
    grouped = frames_by_session(trace)
    for conn, session in paired_sessions(trace):
        assert session is not None, f"no engine session for {conn.client} -> {conn.server}"
        expected, actual = oracle_keys(conn), engine_keys(grouped.get(session["id"], []))
        assert actual == expected, (
            f"{trace} session {session['id']} ({conn.client} -> {conn.server})\n"
            + diff_text(expected, actual)
        )
    assert len(engine_frames(trace)) == sum(len(c.frames) for c in oracle(trace))


@pytest.mark.parametrize("trace", TRACES)
def test_engine_frame_times_match(trace: str) -> None:
    """Each frame's time is its completing packet's capture time, in UTC; allow for the
    engine printing microseconds (the traces' own resolution is microseconds)."""
    grouped = frames_by_session(trace)
    for conn, session in paired_sessions(trace):
        assert session is not None
        ordered = sorted(grouped.get(session["id"], []), key=lambda f: f["frame"])
        assert len(ordered) == len(conn.frames), "frame lists differ; see the frames test"
        for ours, theirs in zip(conn.frames, ordered, strict=True):
            assert ours.time_ns is not None
            delta = abs(iso_to_ns(theirs["time"]) - ours.time_ns)
            assert delta < 1000, f"frame {ours.frame_no}: {theirs['time']} is {delta} ns off"


@pytest.mark.parametrize("trace", TRACES)
def test_engine_handshake_status_matches(trace: str) -> None:
    """The contract's session.handshake.status is the upgrade response's status code."""
    for conn, session in paired_sessions(trace):
        assert session is not None
        status = (session.get("handshake") or {}).get("status")
        assert status == conn.status, (
            f"session {session['id']}: handshake {session.get('handshake')}"
        )


_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]00:00)")


def iso_to_ns(text: str) -> int:
    """Parse an ISO 8601 UTC timestamp to integer nanoseconds (datetime stops at µs)."""
    match = _ISO.fullmatch(text)
    assert match, f"{text!r} is not ISO 8601 UTC"
    whole = dt.datetime.fromisoformat(match[1]).replace(tzinfo=dt.UTC)
    fraction = (match[2] or "").ljust(9, "0")
    return int(whole.timestamp()) * 1_000_000_000 + int(fraction)


# --------------------------------------------------------------------------------------------
# Hand-checked traces
# --------------------------------------------------------------------------------------------

# Written down from the TCP payload bytes (hex) of each trace, one key per frame:
# (from_client, fin, opcode, payload_len, close_code, frame).
C, S = True, False
HAND_CHECKED: dict[str, list[FrameKey]] = {
    # Packet 6 carries the whole 101 response and, after its blank line, `89 04 "Zeek"`:
    # a FIN ping of 4 bytes in the same segment. An engine that stops at the HTTP message
    # (or only dissects packets it labels WebSocket) loses it. Then: 8 `8a 84` masked pong,
    # 9 `81 8b` masked text (11), 11 `81 0c` "Hello there!", 12 `88 82` masked close whose
    # unmasked payload is 03 e8 (1000), 13 `88 02 03 e8`.
    "reply-ping-coalesced.pcap": [
        (S, True, "ping", 4, None, 6),
        (C, True, "pong", 4, None, 8),
        (C, True, "text", 11, None, 9),
        (S, True, "text", 12, None, 11),
        (C, True, "close", 2, 1000, 12),
        (S, True, "close", 2, 1000, 13),
    ],
    # The same exchange with the ping in its own packet (8), for contrast.
    "reply-ping-separate.pcap": [
        (S, True, "ping", 4, None, 8),
        (C, True, "pong", 4, None, 10),
        (C, True, "text", 11, None, 11),
        (S, True, "text", 12, None, 13),
        (C, True, "close", 2, 1000, 14),
        (S, True, "close", 2, 1000, 15),
    ],
    # Packet 13 holds two frames: `02 05 "Hello"` (binary, FIN clear) and `80 07 " there!"`
    # (continuation, FIN set) -- one fragmented binary message, both frames in one packet.
    # The client's own binary (11, `82 8b`) is a single unfragmented frame.
    "two-binary-fragments.pcap": [
        (S, True, "ping", 4, None, 8),
        (C, True, "pong", 4, None, 10),
        (C, True, "binary", 11, None, 11),
        (S, False, "binary", 5, None, 13),
        (S, True, "continuation", 7, None, 13),
        (C, True, "close", 2, 1000, 14),
        (S, True, "close", 2, 1000, 15),
    ],
    # Despite the name, the 101 arrives whole in packet 6. What is fragmented is the HTTP
    # reply *tunnelled inside* WebSocket: packet 13 carries five server frames, `02 01 "H"`
    # (binary, FIN clear), then continuations of 7 ("TTP/1.1"), 9 (" 200 OK\r\n"), 18
    # ("Server: dont ask\r\n") and `80 15` 21 bytes ("Content-Length: 0\r\n\r\n", FIN set).
    # Packet 11 is the client's masked 35-byte binary "GET / HTTP/1.1...".
    "fragmented-http-reply.pcap": [
        (S, True, "ping", 4, None, 8),
        (C, True, "pong", 4, None, 10),
        (C, True, "binary", 35, None, 11),
        (S, False, "binary", 1, None, 13),
        (S, False, "continuation", 7, None, 13),
        (S, False, "continuation", 9, None, 13),
        (S, False, "continuation", 18, None, 13),
        (S, True, "continuation", 21, None, 13),
        (C, True, "close", 2, 1000, 14),
        (S, True, "close", 2, 1000, 15),
    ],
    # Packet 10 is `88 9f` + key bd 07 05 57: a masked close of 31 bytes; unmasked it starts
    # 03 f1 (1009, message too big) followed by the 29-byte reason
    # "over size limit (4 > 2 bytes)". The server answers 1000 in packet 11.
    "message-too-big-status.pcap": [
        (S, True, "ping", 4, None, 8),
        (C, True, "close", 31, 1009, 10),
        (S, True, "close", 2, 1000, 11),
    ],
    # Packet 6 is `88 7f` then the 64-bit extended length 00..01 02: an unmasked close of
    # 258 bytes (03 e8 = 1000, then 256 x "C"). "127" is the 7-bit length *code* that
    # announces the 64-bit form (not a payload length, and not the 16-bit form, which is
    # 126); tshark's websocket.payload_length reports exactly that 127. 258 > 125 breaks the
    # control-frame limit, and a 64-bit length for 258 is non-minimal too.
    "oversized-close-frame.pcapng": [
        (S, True, "close", 258, 1000, 6),
    ],
    # The 101's Sec-WebSocket-Accept is wrong, but the server still pings (packet 8) before
    # both sides FIN; a frame decoder must not drop it because the handshake was bad.
    "wrong-accept-header.pcap": [
        (S, True, "ping", 4, None, 8),
    ],
}

# Frames per trace (all sessions), counted by the oracle and cross-checked by hand for the
# small traces above and against a full dissection while developing for the large ones.
FRAME_COUNTS = {
    "broker-websocket.pcap": 9,
    "fragmented-http-reply.pcap": 10,
    "jupyter-websocket.pcap": 14,
    "message-too-big-status.pcap": 3,
    "oversized-close-frame.pcapng": 1,
    "reply-ping-coalesced.pcap": 6,
    "reply-ping-separate.pcap": 6,
    "two-binary-fragments.pcap": 7,
    "wrong-accept-header.pcap": 1,
    "wstunnel-http.pcap": 4,
    "wstunnel-https.pcap": 38,
    "wstunnel-ssh.pcap": 155,  # two WebSocket connections: 22 + 133 frames
}


@pytest.mark.parametrize("trace", sorted(HAND_CHECKED))
def test_hand_checked_engine(trace: str) -> None:
    """The engine reproduces the byte-level reading of each tricky trace."""
    (session,) = engine_sessions(trace)
    actual = engine_keys(frames_by_session(trace)[session["id"]])
    assert actual == HAND_CHECKED[trace], diff_text(HAND_CHECKED[trace], actual)


def test_hand_checked_engine_close_details() -> None:
    """Close codes the contract exposes: 1009 from the client with a reason; the oversized
    close reports its real 258-byte length, never the 7-bit code 127."""
    (close_1009, _server_close) = [
        f for f in engine_frames("message-too-big-status.pcap") if f["opcode"] == "close"
    ]
    assert (close_1009["from_client"], close_1009["close_code"]) == (True, 1009)
    (oversized,) = engine_frames("oversized-close-frame.pcapng")
    assert oversized["payload_len"] == 258


# --------------------------------------------------------------------------------------------
# The oracle's own checks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("trace", sorted(HAND_CHECKED))
def test_independent_decoder_hand_checked(trace: str) -> None:
    (conn,) = oracle(trace)
    assert oracle_keys(conn) == HAND_CHECKED[trace]


@pytest.mark.parametrize("trace", TRACES)
def test_independent_decoder_frame_counts(trace: str) -> None:
    conns = oracle(trace)
    assert sum(len(c.frames) for c in conns) == FRAME_COUNTS[trace]
    for conn in conns:
        # Every trace has its full handshake and loses nothing: a hole would cut decoding.
        assert conn.syn_seen and conn.status == 101
        assert conn.client_stream.hole_at is None and conn.server_stream.hole_at is None


def test_independent_decoder_close_reasons() -> None:
    """Reasons and payloads read from the unmasked close payloads."""
    (conn,) = oracle("message-too-big-status.pcap")
    close = conn.frames[1]
    assert close.masked and close.close_code == 1009
    assert close.close_reason == "over size limit (4 > 2 bytes)"
    ((oversized,),) = [c.frames for c in oracle("oversized-close-frame.pcapng")]
    assert oversized.payload == b"\x03\xe8" + b"C" * 256 and not oversized.masked
    assert oversized.time_ns == 5_000  # pcapng EPB ticks 5 at the default µs resolution


def test_independent_decoder_handshakes() -> None:
    """Accept keys recomputed from Sec-WebSocket-Key: only wrong-accept-header is wrong."""
    for trace in TRACES:
        for conn in oracle(trace):
            assert conn.handshake is not None
            assert conn.handshake.accept_valid is (trace != "wrong-accept-header.pcap"), trace
    (conn,) = oracle("oversized-close-frame.pcapng")
    assert (conn.client, conn.server, conn.handshake.target) == (
        "10.0.0.1:40081",
        "10.0.0.2:80",
        "/chat",
    )


def test_independent_decoder_frames_spanning_segments() -> None:
    """wstunnel-https has frames spread over many segments; each is attributed to the packet
    with its last byte (frame 35's 8404-byte payload starts in packet 25)."""
    (conn,) = oracle("wstunnel-https.pcap")
    big = next(f for f in conn.frames if f.payload_len == 8404)
    assert (big.first_frame_no, big.frame_no) == (25, 35)
    assert sum(f.first_frame_no != f.frame_no for f in conn.frames) == 26


# --- the same packets in other capture formats ----------------------------------------------

Packets = list[tuple[int | None, bytes]]  # (time_ns, Ethernet frame)


def ethernet_packets(trace: str) -> Packets:
    """A trace's packets, which the re-encoders below start from (all are Ethernet)."""
    packets = list(iw.read_packets(ZEEK_DIR / trace))
    assert {p.linktype for p in packets} == {1}
    return [(p.time_ns, p.data) for p in packets]


def to_raw_ip(eth: bytes) -> bytes:
    """LINKTYPE_RAW: the IP packet alone."""
    return eth[14:]


def to_sll(eth: bytes) -> bytes:
    """Linux cooked v1: packet type, ARPHRD_ETHER, address length, address, protocol."""
    return struct.pack(">HHH8sH", 0, 1, 6, eth[6:12], 0x0800) + eth[14:]


def to_sll2(eth: bytes) -> bytes:
    """Linux cooked v2: protocol first, then reserved, ifindex, ARPHRD, type, address."""
    return struct.pack(">HHIHBB8s", 0x0800, 0, 1, 1, 0, 6, eth[6:12]) + eth[14:]


def to_qinq(eth: bytes) -> bytes:
    """Two stacked VLAN tags (802.1ad outer, 802.1Q inner) before the IPv4 EtherType."""
    return eth[:12] + b"\x88\xa8\x00\x64\x81\x00\x00\x0a" + eth[12:]


def to_bsd_null(eth: bytes) -> bytes:
    """BSD loopback: a host-order address family (2 = AF_INET) before the IP packet."""
    return struct.pack("<I", 2) + eth[14:]


def to_ipv6(eth: bytes) -> bytes:
    """Rewrite IPv4 as IPv6 (2001:db8::a.b.c.d) with a hop-by-hop header before TCP."""
    ip = eth[14:]
    ihl, total = (ip[0] & 0x0F) * 4, struct.unpack_from(">H", ip, 2)[0]
    tcp = ip[ihl:total]
    src, dst = (b"\x20\x01\x0d\xb8" + bytes(8) + ip[i : i + 4] for i in (12, 16))
    hop_by_hop = bytes([6, 0, 1, 4, 0, 0, 0, 0])  # next=TCP, len 8, PadN option
    header = struct.pack(">IHBB16s16s", 0x6000_0000, len(tcp) + 8, 0, 64, src, dst)
    return eth[:12] + b"\x86\xdd" + header + hop_by_hop + tcp


def write_pcap(packets: Packets, linktype: int, endian: str, nano: bool) -> bytes:
    """A libpcap file in either byte order, with micro- or nanosecond timestamps."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for time_ns, data in packets:
        assert time_ns is not None
        sec, ns = divmod(time_ns, 1_000_000_000)
        out.append(
            struct.pack(endian + "IIII", sec, ns if nano else ns // 1000, len(data), len(data))
        )
        out.append(data)
    return b"".join(out)


def pcapng_block(endian: str, btype: int, body: bytes) -> bytes:
    """A pcapng block: type, total length, body padded to 32 bits, total length again."""
    body += bytes(-len(body) % 4)
    return (
        struct.pack(endian + "II", btype, len(body) + 12)
        + body
        + struct.pack(endian + "I", len(body) + 12)
    )


def pcapng_idb(endian: str, linktype: int, tsresol: int | None) -> bytes:
    """An Interface Description Block, with an if_tsresol option unless None."""
    options = b""
    if tsresol is not None:
        options = struct.pack(endian + "HHB3x", 9, 1, tsresol) + struct.pack(endian + "HH", 0, 0)
    return pcapng_block(endian, 1, struct.pack(endian + "HHI", linktype, 0, 262144) + options)


def write_pcapng_two_interfaces(packets: Packets, endian: str) -> bytes:
    """Interface 0 is Ethernet at 10^-9 s ticks, interface 1 raw IP at the default 10^-6;
    packets alternate between them, so both link type and resolution vary per packet."""
    shb = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    out = [
        pcapng_block(endian, 0x0A0D0D0A, shb),
        pcapng_idb(endian, 1, 9),
        pcapng_idb(endian, 101, None),
    ]
    for i, (time_ns, eth) in enumerate(packets):
        assert time_ns is not None
        iface, data = i % 2, (eth if i % 2 == 0 else to_raw_ip(eth))
        ticks = time_ns if iface == 0 else time_ns // 1000
        body = struct.pack(
            endian + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
        )
        out.append(pcapng_block(endian, 6, body + data))
    return b"".join(out)


def write_pcapng_simple(packets: Packets, endian: str) -> bytes:
    """Simple Packet Blocks only: no timestamps, interface 0."""
    shb = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    out = [pcapng_block(endian, 0x0A0D0D0A, shb), pcapng_idb(endian, 1, None)]
    out += [pcapng_block(endian, 3, struct.pack(endian + "I", len(d)) + d) for _, d in packets]
    return b"".join(out)


def relinked(convert: Callable[[bytes], bytes]) -> Callable[[Packets], Packets]:
    """Apply a link-layer rewrite to every packet, keeping timestamps."""
    return lambda packets: [(t, convert(d)) for t, d in packets]


VARIANTS: dict[str, Callable[[Packets], bytes]] = {
    "pcap-be-usec-qinq": lambda p: write_pcap(relinked(to_qinq)(p), 1, ">", False),
    "pcap-le-nsec-sll": lambda p: write_pcap(relinked(to_sll)(p), 113, "<", True),
    "pcap-be-nsec-raw": lambda p: write_pcap(relinked(to_raw_ip)(p), 101, ">", True),
    "pcap-le-usec-sll2": lambda p: write_pcap(relinked(to_sll2)(p), 276, "<", False),
    "pcap-le-usec-null": lambda p: write_pcap(relinked(to_bsd_null)(p), 0, "<", False),
    "pcap-ipv6-gzip": lambda p: gzip.compress(write_pcap(relinked(to_ipv6)(p), 1, "<", False)),
    "pcapng-le-two-interfaces": lambda p: write_pcapng_two_interfaces(p, "<"),
    "pcapng-be-two-interfaces-gzip": lambda p: gzip.compress(write_pcapng_two_interfaces(p, ">")),
    "pcapng-be-spb-ipv6": lambda p: write_pcapng_simple(relinked(to_ipv6)(p), ">"),
}


def signature(conns: list[iw.Connection], with_time: bool = True) -> list[tuple[Any, ...]]:
    """Everything decoded about each frame, for comparing two decodings of one trace."""
    return [frame_signature(f, with_time) for c in conns for f in c.frames]


def frame_signature(f: iw.WsFrame, with_time: bool) -> tuple[Any, ...]:
    """Every decoded fact of a frame; time left out where the format has none (SPB)."""
    time_ns = f.time_ns if with_time else None
    return (
        f.from_client,
        f.fin,
        f.rsv,
        f.opcode,
        f.payload_len,
        f.payload,
        f.frame_no,
        f.first_frame_no,
        time_ns,
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("trace", ["fragmented-http-reply.pcap", "wstunnel-https.pcap"])
def test_independent_decoder_formats(trace: str, variant: str, tmp_path: Path) -> None:
    """The same packets in another container, byte order, resolution or link layer decode
    to the same frames (SPB has no timestamps; IPv6 changes the addresses)."""
    original = iw.websocket_connections(ZEEK_DIR / trace)
    path = tmp_path / f"{variant}.cap"
    path.write_bytes(VARIANTS[variant](ethernet_packets(trace)))
    decoded = iw.websocket_connections(path)
    with_time = "spb" not in variant
    assert signature(decoded, with_time) == signature(original, with_time)
    if "ipv6" in variant:
        assert decoded[0].client == "[2001:db8::7f00:1]:" + original[0].client.split(":")[1]
    else:
        assert [(c.client, c.server) for c in decoded] == [(c.client, c.server) for c in original]


# --- TCP misbehaviour injected into real traces ---------------------------------------------


def with_tcp(eth: bytes, payload: bytes, seq_delta: int = 0) -> bytes:
    """The same Ethernet/IPv4/TCP packet with another payload and a shifted sequence number
    (checksums are not recomputed; the decoder does not verify them)."""
    ihl = (eth[14] & 0x0F) * 4
    tcp_at = 14 + ihl
    data_at = tcp_at + (eth[tcp_at + 12] >> 4) * 4
    seq = (struct.unpack_from(">I", eth, tcp_at + 4)[0] + seq_delta) & 0xFFFFFFFF
    ip_header = eth[14:16] + struct.pack(">H", data_at - 14 + len(payload)) + eth[18:tcp_at]
    tcp_header = eth[tcp_at : tcp_at + 4] + struct.pack(">I", seq) + eth[tcp_at + 8 : data_at]
    return eth[:14] + ip_header + tcp_header + payload


def tcp_payload(eth: bytes) -> bytes:
    """The TCP payload of an Ethernet/IPv4 packet."""
    tcp_at = 14 + (eth[14] & 0x0F) * 4
    return eth[tcp_at + (eth[tcp_at + 12] >> 4) * 4 :]


def source_port(eth: bytes) -> int:
    """The TCP source port of an Ethernet/IPv4 packet (tells server packets apart)."""
    return struct.unpack_from(">H", eth, 14 + (eth[14] & 0x0F) * 4)[0]


def decode_packets(packets: Packets, tmp_path: Path) -> list[iw.Connection]:
    """Write mutated packets as a pcap and decode it like any capture."""
    path = tmp_path / "mutated.pcap"
    path.write_bytes(write_pcap(packets, 1, "<", False))
    return iw.decode_capture(path)


def shifted(keys: list[FrameKey], after: int, by: int) -> list[FrameKey]:
    """Frame numbers above `after` moved by `by` (packets inserted or removed)."""
    return [(a, b, c, d, e, n + by if n > after else n) for a, b, c, d, e, n in keys]


def test_independent_decoder_retransmission(tmp_path: Path) -> None:
    """A verbatim retransmission of packet 13 (two frames) adds no frames: the first copy
    wins, and later packets are renumbered by one."""
    packets = ethernet_packets("two-binary-fragments.pcap")
    packets.insert(13, packets[12])
    (conn,) = decode_packets(packets, tmp_path)
    assert oracle_keys(conn) == shifted(HAND_CHECKED["two-binary-fragments.pcap"], 13, 1)
    assert conn.server_stream.duplicate_bytes == 16


def test_independent_decoder_overlap_first_copy_wins(tmp_path: Path) -> None:
    """Packet 13's 16 bytes sent as [0, 10) then [4, 16) with garbage in the overlap: the
    binary fragment completes in the first piece, the continuation in the second, and the
    garbage never reaches a payload."""
    packets = ethernet_packets("two-binary-fragments.pcap")
    ts, eth = packets[12]
    data = tcp_payload(eth)
    first, second = with_tcp(eth, data[:10]), with_tcp(eth, b"\xff" * 6 + data[10:], 4)
    packets[12:13] = [(ts, first), (ts, second)]
    (conn,) = decode_packets(packets, tmp_path)
    expected = shifted(HAND_CHECKED["two-binary-fragments.pcap"], 13, 1)
    expected[4] = (S, True, "continuation", 7, None, 14)
    assert oracle_keys(conn) == expected
    assert [f.payload for f in conn.frames[3:5]] == [b"Hello", b" there!"]
    assert conn.frames[4].first_frame_no == 13
    assert conn.server_stream.duplicate_bytes == 6


def test_independent_decoder_out_of_order(tmp_path: Path) -> None:
    """jupyter's server packets 12 (nine frames) and 14 (one frame) swapped: nothing can be
    delivered until the earlier bytes arrive in the new packet 14, so all ten complete there."""
    packets = ethernet_packets("jupyter-websocket.pcap")
    packets[11], packets[13] = packets[13], packets[11]
    (conn,) = decode_packets(packets, tmp_path)
    (original,) = oracle("jupyter-websocket.pcap")
    expected = [
        (a, b, c, d, e, 14 if n in (12, 14) else n) for a, b, c, d, e, n in oracle_keys(original)
    ]
    assert oracle_keys(conn) == expected
    assert conn.server_stream.out_of_order_segments == 1


def test_independent_decoder_no_syn(tmp_path: Path) -> None:
    """Without the three-way handshake the client is the side that sent the request line."""
    packets = ethernet_packets("reply-ping-separate.pcap")[3:]
    (conn,) = decode_packets(packets, tmp_path)
    assert not conn.syn_seen and conn.client == "127.0.0.1:54524"
    assert oracle_keys(conn) == shifted(HAND_CHECKED["reply-ping-separate.pcap"], 0, -3)


def test_independent_decoder_starts_after_handshake(tmp_path: Path) -> None:
    """A capture that begins after the 101 has no visible upgrade: nothing is decoded rather
    than guessing where frames start."""
    packets = ethernet_packets("reply-ping-separate.pcap")[6:]
    (conn,) = decode_packets(packets, tmp_path)
    assert conn.handshake is None and conn.frames == []


def test_independent_decoder_sequence_wraparound(tmp_path: Path) -> None:
    """Server sequence numbers shifted so they wrap past 2**32 inside the 101 response."""
    packets = ethernet_packets("two-binary-fragments.pcap")
    server_isn = struct.unpack_from(">I", packets[1][1], 38)[0]
    delta = (2**32 - 100 - server_isn) & 0xFFFFFFFF
    for i, (ts, eth) in enumerate(packets):
        if source_port(eth) == 8080:
            packets[i] = (ts, with_tcp(eth, tcp_payload(eth), delta))
    (conn,) = decode_packets(packets, tmp_path)
    assert oracle_keys(conn) == HAND_CHECKED["two-binary-fragments.pcap"]


def test_independent_decoder_port_reuse(tmp_path: Path) -> None:
    """The same 4-tuple twice, with a new SYN (fresh ISN) the second time: two connections,
    each with its own frames."""
    first = ethernet_packets("two-binary-fragments.pcap")
    second = [
        (ts, eth if source_port(eth) == 8080 else with_tcp(eth, tcp_payload(eth), 1000))
        for ts, eth in first
    ]
    conns = decode_packets(first + second, tmp_path)
    expected = HAND_CHECKED["two-binary-fragments.pcap"]
    assert [oracle_keys(c) for c in conns] == [expected, shifted(expected, 0, len(first))]
