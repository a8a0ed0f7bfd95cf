"""Per-connection facts from plain tshark rows, named like the SESSIONS columns.

A session is a TCP connection that attempted a WebSocket upgrade (or a proxy CONNECT),
carried plausible WebSocket frames without a captured handshake (``recovered``), or carried
TLS that was not decrypted (``encrypted``). Each fact follows the column's definition in
``analyzer/schema.py``, computed here from tshark alone so the engine can be tested
against it. A fact that cannot be stated reliably is left out rather than guessed: a
JSON-type count when a text could not be assigned to its frame, a "largest gap" whose
runner-up is within the timestamp resolution, a "who was first" when both times are equal.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .tshark_rows import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    TCP_ANALYSIS,
    Frame,
    Frames,
    HttpMessage,
    Packet,
)

TIME_SLACK_S = 0.05  # measured durations are written as [value - slack, value + slack]
# A runner-up gap within twice the pcap timestamp resolution (1 us) ties with the largest:
# which of the two is "the" largest gap is then not a fact.
GAP_TIE_NS = 2_000
JSON_TYPES = (
    ("keepalive_client", True, "KeepAlive"),
    ("closestream_client", True, "CloseStream"),
    ("finalize_client", True, "Finalize"),
    ("results_server", False, "Results"),
    ("metadata_server", False, "Metadata"),
)
SIDES = (("client", True), ("server", False))
Facts = dict[str, Any]


@dataclass
class Conn:
    """Everything tshark said about one TCP connection."""

    stream: int
    packets: list[Packet]
    frames: list[Frame] = field(default_factory=list)
    requests: list[HttpMessage] = field(default_factory=list)
    responses: dict[int, HttpMessage] = field(default_factory=dict)  # by request frame
    tls: bool = False
    sni: str | None = None
    unreliable: set[str] = field(default_factory=set)
    client: str = ""
    server: str = ""
    evidence: str = ""

    @property
    def attempts(self) -> list[HttpMessage]:
        """Upgrade requests and CONNECTs (a request answered by 101 counts too)."""
        return [r for r in self.requests if is_attempt(r, self.responses.get(r.packet))]

    @property
    def upgrades(self) -> list[HttpMessage]:
        return [r for r in self.attempts if r.method != "CONNECT"]

    @property
    def chosen(self) -> HttpMessage | None:
        """The upgrade that got 101, else the last upgrade, else the last CONNECT."""
        ok = [r for r in self.upgrades if self.status_of(r) == 101]
        pool = ok[:1] or self.upgrades[-1:] or self.attempts[-1:]
        return pool[0] if pool else None

    def status_of(self, request: HttpMessage) -> int | None:
        response = self.responses.get(request.packet)
        return response.status if response else None

    def time(self, number: int) -> int:
        return next(p.time_ns for p in self.packets if p.number == number)

    def sender(self, number: int) -> str:
        return next(p.src for p in self.packets if p.number == number)

    def side_frames(self, is_client: bool) -> list[Frame]:
        return [f for f in self.frames if (self.sender(f.packet) == self.client) == is_client]


def is_attempt(request: HttpMessage, response: HttpMessage | None) -> bool:
    upgrade = (request.header("upgrade") or "").lower()
    answered_101 = response is not None and response.status == 101
    return request.method == "CONNECT" or "websocket" in upgrade or answered_101


def plausible(conn: Conn) -> bool:
    """Frames without a handshake count only if they look like RFC 6455: every client frame
    masked, no server frame masked, known opcodes, RSV only for permessage-deflate."""
    by_sender: dict[str, set[bool]] = {}
    for f in conn.frames:
        by_sender.setdefault(conn.sender(f.packet), set()).add(f.masked)
    uniform = all(len(masks) == 1 for masks in by_sender.values())
    masked_sides = sum(masks == {True} for masks in by_sender.values())
    known = all(f.opcode in (0, 1, 2, 8, 9, 10) and f.rsv in (0, 4) for f in conn.frames)
    return uniform and masked_sides <= 1 and known and len(conn.frames) >= 2


def assign_roles(conn: Conn) -> None:
    conn.client, conn.evidence = client_side(conn)
    first = conn.packets[0]
    conn.server = first.dst if conn.client == first.src else first.src


def client_side(conn: Conn) -> tuple[str, str]:
    """Client: upgrade sender, else SYN sender, else masking side, else the higher port."""
    chosen = conn.chosen
    if chosen:
        return conn.sender(chosen.packet), "handshake"
    syn = next((p for p in conn.packets if p.syn and not p.ack), None)
    if syn:
        return syn.src, "syn"
    masked = [f for f in conn.frames if f.masked]
    if masked:
        return conn.sender(masked[0].packet), "masking"
    if conn.frames:  # only server frames: the client is their receiver
        return other(conn, conn.frames[0].packet), "masking"
    first = conn.packets[0]
    higher = int(first.src.rsplit(":", 1)[1]) >= int(first.dst.rsplit(":", 1)[1])
    return (first.src if higher else first.dst), "ports"


def other(conn: Conn, number: int) -> str:
    """The receiver of a packet."""
    return next(p.dst for p in conn.packets if p.number == number)


def kind(conn: Conn) -> str:
    """As analyzer/schema.py defines it; an open CONNECT tunnel carrying TLS is encrypted."""
    chosen = conn.chosen
    status = conn.status_of(chosen) if chosen else None
    if status == 101:
        return "websocket"
    tunnel_up = chosen is not None and chosen.method == "CONNECT" and 200 <= (status or 0) < 300
    if tunnel_up and conn.tls and not conn.frames:
        return "encrypted"
    if tunnel_up and not conn.frames:  # granted, plain: tshark leaves the tunnel undissected
        return "tunnel"
    if chosen and not conn.frames:
        return "rejected" if status is not None else "unanswered"
    return "recovered" if conn.frames else "encrypted"


def identity_facts(conn: Conn, session_kind: str) -> Facts:
    facts: Facts = {
        "kind": session_kind,
        "client": conn.client,
        "server": conn.server,
        "client_evidence": conn.evidence,
        "syn_seen": any(p.syn and not p.ack for p in conn.packets),
        # Every packet of the connection, pure ACKs included (`tshark -Y tcp.stream==N`).
        "first_frame": min(p.number for p in conn.packets),
        "last_frame": max(p.number for p in conn.packets),
        "tls": conn.tls,
    }
    if conn.tls:
        # A CONNECT is plain text before the TLS; only a request inside TLS proves decryption.
        facts["decrypted"] = bool(conn.upgrades)
        facts["sni"] = conn.sni
    return facts


def handshake_facts(conn: Conn) -> Facts:
    chosen = conn.chosen
    if chosen is None:
        return {"status": None}
    response = conn.responses.get(chosen.packet)
    uri = chosen.uri or ""
    facts: Facts = {
        "status": response.status if response else None,
        "request_frame": chosen.packet,
        "response_frame": response.packet if response else None,
        "method": chosen.method,
        "path": uri.split("?", 1)[0] or uri,
        "upgrade_attempts": len(conn.upgrades),
    }
    if response:
        facts["extensions_accepted"] = response.header("sec-websocket-extensions")
        facts["dg_request_id"] = response.header("dg-request-id")
        facts["dg_error"] = response.header("dg-error")
    return facts


def count_facts(conn: Conn) -> Facts:
    """Frames per side and opcode, bytes, masking; 0 for a session without frames."""
    facts: Facts = {}
    for name, is_client in SIDES:
        mine = conn.side_frames(is_client)
        data = [f for f in mine if f.opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION)]
        facts |= {
            f"frames_{name}": len(mine),
            f"data_frames_{name}": len(data),
            f"control_frames_{name}": sum(f.opcode in (OP_CLOSE, OP_PING, OP_PONG) for f in mine),
            f"text_frames_{name}": sum(f.opcode == OP_TEXT for f in mine),
            f"binary_frames_{name}": sum(f.opcode == OP_BINARY for f in mine),
            f"pings_{name}": sum(f.opcode == OP_PING for f in mine),
            f"pongs_{name}": sum(f.opcode == OP_PONG for f in mine),
            f"masked_frames_{name}": sum(f.masked for f in mine),
            f"payload_bytes_{name}": sum(f.payload_len for f in mine),
            f"last_data_frame_{name}": data[-1].packet if data else None,
        }
    empty = [f for f in conn.side_frames(True) if f.opcode == OP_BINARY and f.payload_len == 0]
    facts["empty_binary_client"] = len(empty)
    facts["empty_binary_client_frame"] = empty[0].packet if empty else None
    facts["compressed"] = any(f.rsv & 4 for f in conn.frames)
    return facts


def json_facts(conn: Conn) -> Facts:
    """JSON ``type`` counts, only when every text was assigned and nothing is fragmented."""
    if "text" in conn.unreliable or any(f.opcode == OP_CONTINUATION for f in conn.frames):
        return {}
    return {
        name: sum(f.opcode == OP_TEXT and f.json_type == kind for f in conn.side_frames(is_client))
        for name, is_client, kind in JSON_TYPES
    }


def seconds_range(delta_ns: int) -> list[float]:
    value = delta_ns / 1e9
    return [round(value - TIME_SLACK_S, 3), round(value + TIME_SLACK_S, 3)]


def gap_facts(conn: Conn) -> Facts:
    """Largest gap between one side's consecutive data frames (frames only if unambiguous)."""
    facts: Facts = {}
    for name, is_client in SIDES:
        data = [
            f
            for f in conn.side_frames(is_client)
            if f.opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION)
        ]
        gaps = sorted(
            (
                (conn.time(b.packet) - conn.time(a.packet), a.packet, b.packet)
                for a, b in itertools.pairwise(data)
            ),
            reverse=True,
        )
        if not gaps:
            continue
        facts[f"max_gap_{name}_s"] = seconds_range(gaps[0][0])
        if len(gaps) == 1 or gaps[0][0] - gaps[1][0] > GAP_TIE_NS:
            facts[f"max_gap_{name}_from_frame"] = gaps[0][1]
            facts[f"max_gap_{name}_to_frame"] = gaps[0][2]
    return facts


def first_close(conn: Conn, is_client: bool) -> Frame | None:
    return next((f for f in conn.side_frames(is_client) if f.opcode == OP_CLOSE), None)


def close_facts(conn: Conn) -> Facts:
    """Each side's first close frame, who closed first, and the close handshake."""
    facts: Facts = {}
    closes = {name: first_close(conn, is_client) for name, is_client in SIDES}
    for name, close in closes.items():
        facts[f"close_{name}_frame"] = close.packet if close else None
        if "close_code" not in conn.unreliable:
            facts[f"close_{name}_code"] = close.close_code if close else None
        if "close_reason" not in conn.unreliable:
            facts[f"close_{name}_reason"] = close.close_reason if close else None
        facts[f"close_{name}_payload_len"] = close.payload_len if close else None
    client, server = closes["client"], closes["server"]
    handshake = {(True, True): "complete", (True, False): "client-only"}
    handshake |= {(False, True): "server-only", (False, False): "none"}
    facts["close_handshake"] = handshake[(client is not None, server is not None)]
    first_by = first_of(conn, client, server)
    if first_by != "tie":
        facts["close_first_by"] = first_by
    return facts | quiet_facts(conn, server)


def first_of(conn: Conn, client: Frame | None, server: Frame | None) -> str | None:
    """client | server | None (neither) | tie (same timestamp: order unknowable)."""
    if client is None or server is None:
        return "client" if client else "server" if server else None
    client_t, server_t = conn.time(client.packet), conn.time(server.packet)
    return "tie" if client_t == server_t else "client" if client_t < server_t else "server"


def opened_ns(conn: Conn) -> int:
    """The 101's time, else the session's first packet with payload or SYN/FIN/RST."""
    chosen = conn.chosen
    response = conn.responses.get(chosen.packet) if chosen else None
    if response is not None:
        return conn.time(response.packet)
    return next(p.time_ns for p in conn.packets if p.counts)


def quiet_facts(conn: Conn, server_close: Frame | None) -> Facts:
    """How long the client had sent no data when the server closed."""
    if server_close is None:
        return {}
    closed = conn.time(server_close.packet)
    before = [
        f
        for f in conn.side_frames(True)
        if f.opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION) and conn.time(f.packet) <= closed
    ]
    last = conn.time(before[-1].packet) if before else opened_ns(conn)
    return {
        "client_last_data_frame_before_server_close": before[-1].packet if before else None,
        "client_quiet_before_server_close_s": seconds_range(closed - last),
    }


def tcp_facts(conn: Conn) -> Facts:
    """FIN/RST per side, how the connection ended, tshark's analysis markers."""
    facts: Facts = {}
    for name, is_client in SIDES:
        mine = [p for p in conn.packets if (p.src == conn.client) == is_client]
        fins, rsts = [p for p in mine if p.fin], [p for p in mine if p.rst]
        facts[f"fin_{name}_frame"] = fins[0].number if fins else None
        facts[f"rst_{name}_frame"] = rsts[0].number if rsts else None
        facts[f"rst_{name}_count"] = len(rsts)
    ends = [p for p in conn.packets if p.fin or p.rst]
    if not ends:
        facts["tcp_end"] = "open"
        facts["tcp_ended_by"] = None
    elif not (ends[0].fin and ends[0].rst):
        facts["tcp_end"] = "rst" if ends[0].rst else "fin"
        facts["tcp_end_frame"] = ends[0].number
        tie = len(ends) > 1 and ends[1].time_ns == ends[0].time_ns and ends[1].src != ends[0].src
        if not tie:
            facts["tcp_ended_by"] = "client" if ends[0].src == conn.client else "server"
    for name in TCP_ANALYSIS:
        facts[f"{name}_count"] = sum(name in p.analysis for p in conn.packets)
    return facts


def session_facts(conn: Conn) -> Facts:
    """Every fact of one session, grouped like the SESSIONS table."""
    session_kind = kind(conn)
    facts = identity_facts(conn, session_kind) | handshake_facts(conn)
    if not conn.frames:
        facts |= {"frames_client": 0, "frames_server": 0}
        return facts | tcp_facts(conn)
    facts |= count_facts(conn) | json_facts(conn) | gap_facts(conn) | close_facts(conn)
    return facts | tcp_facts(conn)


def build(
    packets: dict[int, Packet],
    frames: Frames,
    http: list[HttpMessage],
    tls: dict[int, str | None],
) -> list[Conn]:
    """The sessions of one reading, in start order (first packet with payload/SYN/FIN/RST)."""
    conns: dict[int, Conn] = {}
    for packet in sorted(packets.values(), key=lambda p: (p.time_ns, p.number)):
        conns.setdefault(packet.stream, Conn(packet.stream, [])).packets.append(packet)
    for frame in frames.frames:
        conns[frame.stream].frames.append(frame)
    for message in http:
        conn = conns[message.stream]
        if message.method is not None:
            conn.requests.append(message)
        elif message.request_in is not None:
            conn.responses[message.request_in] = message
    for stream, sni in tls.items():
        conns[stream].tls, conns[stream].sni = True, sni
    for stream, what in frames.unreliable.items():
        conns[stream].unreliable |= what
    chosen = [c for c in conns.values() if is_session(c)]
    for conn in chosen:
        conn.frames.sort(key=lambda f: (conn.time(f.packet), f.packet))
        assign_roles(conn)
    return sorted(chosen, key=lambda c: (opened_start(c), c.stream))


def is_session(conn: Conn) -> bool:
    if conn.attempts:
        return True
    if conn.frames:
        return plausible(conn)
    return conn.tls and not conn.requests


def opened_start(conn: Conn) -> int:
    counted = [p.time_ns for p in conn.packets if p.counts]
    return counted[0] if counted else conn.packets[0].time_ns
