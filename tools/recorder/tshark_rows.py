"""Plain ``tshark -T fields`` queries, parsed into packets, WebSocket frames and HTTP rows.

This is the independent side of the sample tests: expected.yaml is computed from these rows,
never from the wsdoctor engine. What bites with ``-T fields`` (tshark 4.0):

- One packet can complete several WebSocket frames. With ``-E occurrence=a`` every field
  lists one value per occurrence, joined by the aggregator (an ASCII unit separator here,
  because texts and reasons contain commas). Fields present in every frame (opcode, mask,
  RSV, the 7-bit length) line up one per frame; optional ones are assigned by rule: a
  16-bit extended length to each frame whose 7-bit length is 126, a 64-bit one to 127, a
  close code to each close frame of >= 2 payload bytes, a reason to those of > 2, a text to
  each text frame. A count that does not add up makes that attribute *unreliable* for the
  connection (its facts are then left out) or, for lengths, fails loudly.
- ``websocket.payload_length`` is the 7-bit field, not the length.
- ``tcp.reassemble_out_of_order`` is off by default; without it a frame completed by a
  retransmission after later bytes arrived is never decoded. It is always on here.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# The tcp.analysis flags the SESSIONS table counts (``<name>_count`` columns): the schema's
# vocabulary, queried here with plain tshark, independently of the engine's code.
from analyzer.schema import TCP_ANALYSIS

AGGREGATOR = "\x1f"
BASE_OPTIONS = (
    "-n",
    "-o", "tcp.desegment_tcp_streams:TRUE",
    "-o", "tcp.reassemble_out_of_order:TRUE",
    "-o", "websocket.decompress:TRUE",
)  # fmt: skip
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


@dataclass(frozen=True)
class Reading:
    """One way of reading a capture: the file, a key log, extra tshark options."""

    capture: Path
    keylog: Path | None = None
    options: tuple[str, ...] = ()

    def argv(self, display_filter: str, fields: tuple[str, ...]) -> list[str]:
        keylog = ("-o", f"tls.keylog_file:{self.keylog}") if self.keylog else ()
        output = ("-T", "fields", "-E", "occurrence=a", "-E", f"aggregator={AGGREGATOR}")
        names = [arg for name in fields for arg in ("-e", name)]
        return [
            "tshark", "-r", str(self.capture), *BASE_OPTIONS, *keylog, *self.options,
            "-Y", display_filter, *output, *names,
        ]  # fmt: skip

    def query(self, display_filter: str, fields: tuple[str, ...]) -> list[list[list[str]]]:
        """Rows of fields, each field the list of its occurrences (empty when absent)."""
        argv = self.argv(display_filter, fields)
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"tshark failed ({proc.returncode}): {proc.stderr.strip()}")
        rows = []
        # tshark ends a row with LF only and escapes LF inside values; str.splitlines() would
        # also break on \x0b, \x0c, \x1c-\x1e, \x85 and U+2028 inside text payloads.
        for line in proc.stdout.split("\n")[:-1]:
            values = line.split("\t")
            if len(values) != len(fields):
                raise RuntimeError(f"tshark row with {len(values)} fields, not {len(fields)}")
            rows.append([v.split(AGGREGATOR) if v else [] for v in values])
        return rows


@dataclass(frozen=True)
class Packet:
    """One TCP packet: who sent it, its flags, its payload size, its analysis markers."""

    number: int
    time_ns: int
    stream: int
    src: str
    dst: str
    syn: bool
    ack: bool
    fin: bool
    rst: bool
    tcp_len: int
    analysis: frozenset[str]

    @property
    def counts(self) -> bool:
        """Payload or SYN/FIN/RST: the packets that start and end a session (schema)."""
        return self.tcp_len > 0 or self.syn or self.fin or self.rst


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame, at the packet that completed it."""

    packet: int
    stream: int
    opcode: int
    masked: bool
    rsv: int
    payload_len: int
    text: str | None = None
    close_code: int | None = None
    close_reason: str | None = None

    @property
    def json_type(self) -> str | None:
        """The ``type`` of a JSON object text, or None (not JSON, not an object, no text)."""
        try:
            data = json.loads(self.text or "")
        except ValueError:
            return None
        kind = data.get("type") if isinstance(data, dict) else None
        return kind if isinstance(kind, str) else None


@dataclass
class Frames:
    """The frames of a capture, and per TCP stream the attributes that did not add up."""

    frames: list[Frame] = field(default_factory=list)
    unreliable: dict[int, set[str]] = field(default_factory=dict)

    def mark(self, stream: int, what: str) -> None:
        self.unreliable.setdefault(stream, set()).add(what)


@dataclass(frozen=True)
class HttpMessage:
    """An HTTP request (``method`` set) or response (``status`` set), headers as lines."""

    packet: int
    stream: int
    method: str | None
    uri: str | None
    status: int | None
    request_in: int | None
    headers: tuple[str, ...]

    def header(self, name: str) -> str | None:
        """A header's value (first occurrence), case-insensitive; tshark's \\r\\n removed."""
        for line in self.headers:
            key, sep, value = line.removesuffix("\\r\\n").removesuffix("\\n").partition(":")
            if sep and key.strip().lower() == name.lower():
                return value.strip()
        return None


def endpoint(ip4: list[str], ip6: list[str], port: list[str]) -> str:
    """``ip:port``, ``[v6]:port``; the innermost IP header when there are several."""
    return f"[{ip6[-1]}]:{port[0]}" if ip6 else f"{ip4[-1]}:{port[0]}"


def epoch_ns(text: str) -> int:
    """frame.time_epoch exactly, in ns (a float would lose the last digits)."""
    secs, _, frac = text.partition(".")
    return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])


PACKET_FIELDS = (
    "frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "ipv6.src", "ip.dst",
    "ipv6.dst", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.len",
    *(f"tcp.analysis.{name}" for name in TCP_ANALYSIS),
)  # fmt: skip


def read_packets(reading: Reading) -> dict[int, Packet]:
    """Every TCP packet, by frame number."""
    packets = {}
    for row in reading.query("tcp", PACKET_FIELDS):
        number, time, stream, ip4s, ip6s, ip4d, ip6d, sport, dport, flags, length = row[:11]
        bits = int(flags[0], 16)
        marks = frozenset(n for n, v in zip(TCP_ANALYSIS, row[11:], strict=True) if v)
        packets[int(number[0])] = Packet(
            number=int(number[0]),
            time_ns=epoch_ns(time[0]),
            stream=int(stream[0]),
            src=endpoint(ip4s, ip6s, sport),
            dst=endpoint(ip4d, ip6d, dport),
            syn=bool(bits & 0x02),
            ack=bool(bits & 0x10),
            fin=bool(bits & 0x01),
            rst=bool(bits & 0x04),
            tcp_len=int(length[0]) if length else 0,
            analysis=marks,
        )
    return packets


FRAME_FIELDS = (
    "frame.number", "tcp.stream", "websocket.opcode", "websocket.mask", "websocket.rsv",
    "websocket.payload_length", "websocket.payload_length_ext_16",
    "websocket.payload_length_ext_64", "websocket.payload.text",
    "websocket.payload.close.status_code", "websocket.payload.close.reason",
)  # fmt: skip


def read_frames(reading: Reading) -> Frames:
    """Every WebSocket frame tshark decodes, attributes assigned per occurrence."""
    out = Frames()
    for row in reading.query("websocket", FRAME_FIELDS):
        out.frames += packet_frames(row, out)
    return out


def packet_frames(row: list[list[str]], out: Frames) -> list[Frame]:
    """The frames of one packet (see the module docstring for the assignment rules)."""
    number, stream = int(row[0][0]), int(row[1][0])
    opcodes = [int(v) for v in row[2]]
    masks, rsvs, len7 = row[3], row[4], [int(v) for v in row[5]]
    if not len(opcodes) == len(masks) == len(rsvs) == len(len7):
        raise RuntimeError(f"packet {number}: per-frame fields do not line up: {row[2:6]}")
    lengths = frame_lengths(number, len7, row[6], row[7])
    texts = assign(number, stream, out, "text", row[8], [op == OP_TEXT for op in opcodes])
    # -1 for frames that are not close frames: no code or reason to receive.
    close_len = [n if op == OP_CLOSE else -1 for op, n in zip(opcodes, lengths, strict=True)]
    codes = assign(number, stream, out, "close_code", row[9], [n >= 2 for n in close_len])
    reasons = assign(number, stream, out, "close_reason", row[10], [n > 2 for n in close_len])
    return [
        Frame(
            packet=number,
            stream=stream,
            opcode=op,
            masked=masks[i] in ("1", "True"),
            rsv=int(rsvs[i], 16),
            payload_len=lengths[i],
            text=texts[i],
            close_code=int(codes[i]) if codes[i] else None,
            close_reason=reasons[i],
        )
        for i, op in enumerate(opcodes)
    ]


def frame_lengths(number: int, len7: list[int], ext16: list[str], ext64: list[str]) -> list[int]:
    """Real payload lengths: the extended field for 7-bit values 126 and 127, in order."""
    e16, e64 = iter(ext16), iter(ext64)
    try:
        lengths = [int(next(e16)) if n == 126 else int(next(e64)) if n == 127 else n for n in len7]
    except StopIteration:
        raise RuntimeError(f"packet {number}: missing extended payload length") from None
    if next(e16, None) is not None or next(e64, None) is not None:
        raise RuntimeError(f"packet {number}: more extended lengths than frames need")
    return lengths


def assign(
    number: int, stream: int, out: Frames, what: str, values: list[str], wanted: list[bool]
) -> list[str | None]:
    """Hand ``values`` in order to the frames ``wanted`` marks; mark ``what`` unreliable for
    the stream (and assign nothing) when the counts differ."""
    if len(values) != sum(wanted):
        out.mark(stream, what)
        return [None] * len(wanted)
    it = iter(values)
    return [next(it) if w else None for w in wanted]


HTTP_FIELDS = (
    "frame.number", "tcp.stream", "http.request.method", "http.request.uri",
    "http.response.code", "http.request_in", "http.request.line", "http.response.line",
)  # fmt: skip


def read_http(reading: Reading) -> list[HttpMessage]:
    """HTTP requests and responses (the first message of a packet that holds several)."""
    messages = []
    for number, stream, method, uri, status, request_in, req_lines, resp_lines in reading.query(
        "http.request or http.response", HTTP_FIELDS
    ):
        messages.append(
            HttpMessage(
                packet=int(number[0]),
                stream=int(stream[0]),
                method=method[0] if method else None,
                uri=uri[0] if uri else None,
                status=int(status[0]) if status else None,
                request_in=int(request_in[0]) if request_in else None,
                headers=tuple(req_lines or resp_lines),
            )
        )
    return messages


def read_tls(reading: Reading) -> dict[int, str | None]:
    """TCP streams that carry TLS records -> the SNI of their ClientHello (or None)."""
    found: dict[int, str | None] = {}
    for stream, sni in reading.query("tls", ("tcp.stream", "tls.handshake.extensions_server_name")):
        key = int(stream[0])
        found[key] = found.get(key) or (sni[0] if sni else None)
    return found


def tshark_version() -> str:
    """``tshark 4.0.17``: which dissector produced the facts."""
    out = subprocess.run(["tshark", "-v"], capture_output=True, text=True).stdout.split()
    return f"tshark {out[2]}" if len(out) > 2 else "tshark"
