"""Write a large, deterministic pcap of Deepgram-style WebSocket streaming sessions.

The benchmark needs a capture shaped like a busy speech-to-text gateway: hundreds of
concurrent sessions, each streaming 100 ms linear16 audio chunks as masked binary
frames and receiving JSON `Results` text frames back. Recording that for real would
need the service and minutes of wall time, so every packet is synthesised here with
`struct`: pcap record, Ethernet II (all-zero MACs, as Linux `lo` captures have), IPv4
(correct total length, per-socket IP ID, DF, TTL 64, correct header checksum) and TCP
(correct seq/ack numbers, flags and window; TCP checksum left 0, which tshark does not
verify by default). The same seed always yields the same bytes.

The server listens on 8080 rather than 443 on purpose: tshark dissects port 443 as
TLS, so plaintext WebSocket there would only decode with a `-d` override.

Usage: .venv/bin/python benchmarks/make_capture.py [--sessions N] [--chunks N] [-o PATH]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import heapq
import json
import math
import random
import struct
import sys
import time
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "out" / "large.pcap"
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BASE_EPOCH_US = 1_715_677_200 * 1_000_000  # 2024-05-14 09:00:00 UTC: fixed, so output is stable
SERVER_IP = "127.0.0.21"
SERVER_IP_BYTES = bytes(map(int, SERVER_IP.split(".")))
MSS = 1448
WINDOW = 65535
CHUNK_INTERVAL_US = 100_000  # real-time streaming: one 100 ms chunk every 100 ms
CHUNK_BYTES = 3200  # 100 ms of 16 kHz mono linear16
RESULTS_EVERY = 10  # chunks between server Results messages
COALESCE_EVERY = 50  # chunks between Results pairs sent in a single segment
SESSION_STAGGER_US = 250_000  # default gap between session starts (--stagger-us)
AUDIO_POOL = 64  # distinct audio chunks; masking makes every frame's bytes unique anyway

OP_TEXT, OP_BINARY, OP_CLOSE = 1, 2, 8
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10

PCAP_GLOBAL = struct.Struct("<IHHiIII")
PCAP_RECORD = struct.Struct("<IIII")
# Ethernet II + IPv4 (no options) + TCP fixed header, network byte order.
HEADERS = struct.Struct("!6s6sH BBHHHBBH4s4s HHIIBBHHH")
ZERO_MAC = bytes(6)
LINKTYPE_ETHERNET = 1

MODEL_NAME = "2-general-nova"
MODEL_VERSION = "2024-01-18.26916"
SPOKEN = (
    "so the quarterly numbers look better than we expected but the shipping delays "
    "are still hurting our margins in the northeast region and I think we need to "
    "revisit the contract with the carrier before the end of the month okay let me "
    "pull up the dashboard and share my screen can everyone see that right now"
)
WORDS = tuple(SPOKEN.split())


@dataclass
class Side:
    """One TCP endpoint: the sequence space and IP ID counter it owns."""

    ip: bytes
    port: int
    seq: int
    ip_id: int


@dataclass
class Stats:
    """What was written, so the benchmark need not re-read 200 MB to count it."""

    packets: int = 0
    bytes: int = 0
    ws_frames: int = 0
    sessions: int = 0
    frames_by_opcode: dict[str, int] = field(default_factory=dict)


def ip_checksum(partial: int) -> int:
    """Fold a one's-complement sum to 16 bits and invert it (RFC 791)."""
    while partial >> 16:
        partial = (partial & 0xFFFF) + (partial >> 16)
    return ~partial & 0xFFFF


class Connection:
    """Builds the packets of one TCP connection with seq/ack kept consistent.

    Every packet acknowledges all bytes the peer has sent so far, which is what a
    loopback stack that is never short of buffer does.
    """

    def __init__(self, client: Side, server: Side) -> None:
        self.client = client
        self.server = server
        # Every IPv4 header word except total length and ID is the same in both
        # directions (the address pair just swaps), so their sum is computed once.
        addresses = struct.unpack("!4H", client.ip + server.ip)
        self.ip_sum_base = 0x4500 + 0x4000 + (64 << 8 | 6) + sum(addresses)

    def packet(self, ts_us: int, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        """One pcap record; advances the sender's sequence number."""
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        options = struct.pack("!BBH", 2, 4, MSS) if flags & SYN else b""
        tcp_len = 20 + len(options)
        total = 20 + tcp_len + len(payload)
        src.ip_id = (src.ip_id + 1) & 0xFFFF
        csum = ip_checksum(self.ip_sum_base + total + src.ip_id)
        ack = dst.seq if flags & ACK else 0
        # fmt: off
        headers = HEADERS.pack(
            ZERO_MAC, ZERO_MAC, 0x0800,
            0x45, 0, total, src.ip_id, 0x4000, 64, 6, csum, src.ip, dst.ip,
            src.port, dst.port, src.seq, ack, (tcp_len // 4) << 4, flags, WINDOW, 0, 0,
        )
        # fmt: on
        src.seq = (src.seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        frame_len = 14 + total
        record = PCAP_RECORD.pack(ts_us // 1_000_000, ts_us % 1_000_000, frame_len, frame_len)
        return b"".join((record, headers, options, payload))


def mask_bytes(payload: bytes, key: bytes) -> bytes:
    """XOR with the repeating 4-byte key (RFC 6455 §5.3) using one big-int operation."""
    n = len(payload)
    if n == 0:
        return payload
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def ws_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final (FIN=1) WebSocket frame; clients must mask, servers must not."""
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, mask_bit | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, mask_bit | 127, n)
    if mask is None:
        return header + payload
    return header + mask + mask_bytes(payload, mask)


def audio_pool(rng: random.Random, chunk_bytes: int = CHUNK_BYTES) -> list[bytes]:
    """Speech-like linear16 chunks (a few drifting tones under an envelope, plus noise)."""
    samples_per_chunk = chunk_bytes // 2
    chunks = []
    for c in range(AUDIO_POOL):
        freqs = [rng.uniform(120, 300), rng.uniform(500, 1200), rng.uniform(1800, 3000)]
        amp = rng.uniform(1500, 9000)
        samples = array("h")
        for i in range(samples_per_chunk):
            t = (c * samples_per_chunk + i) / 16000
            envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t)
            tone = sum(math.sin(2 * math.pi * f * t) / (k + 1) for k, f in enumerate(freqs))
            value = amp * envelope * tone / 1.8 + rng.gauss(0, 200)
            samples.append(max(-32768, min(32767, int(value))))
        if sys.byteorder == "big":
            samples.byteswap()
        chunks.append(samples.tobytes())
    return chunks


def compact_json(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def results_message(
    rng: random.Random, request_id: str, model_uuid: str, start: float, max_len: int
) -> bytes:
    """A Deepgram `Results` message sized between 400 bytes and `max_len`."""
    target = rng.randint(400, max_len)
    words: list[dict] = []
    alternative = {"transcript": "", "confidence": round(rng.uniform(0.85, 0.999), 6)}
    alternative["words"] = words
    message = {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": 1.0,
        "start": round(start, 3),
        "is_final": True,
        "speech_final": rng.random() < 0.3,
        "channel": {"alternatives": [alternative]},
        "metadata": {
            "request_id": request_id,
            "model_info": {"name": MODEL_NAME, "version": MODEL_VERSION, "arch": "nova-2"},
            "model_uuid": model_uuid,
        },
        "from_finalize": False,
    }
    body = compact_json(message)
    cursor = start
    while True:
        word = rng.choice(WORDS)
        length = rng.uniform(0.12, 0.45)
        words.append(
            {
                "word": word,
                "start": round(cursor, 3),
                "end": round(cursor + length, 3),
                "confidence": round(rng.uniform(0.7, 0.999), 4),
            }
        )
        alternative["transcript"] = " ".join(w["word"] for w in words)
        candidate = compact_json(message)
        if len(candidate) > max_len:
            words.pop()
            alternative["transcript"] = " ".join(w["word"] for w in words)
            return body
        body = candidate
        if len(body) >= target:
            return body
        cursor += length + rng.uniform(0.0, 0.08)


def metadata_message(
    rng: random.Random, request_id: str, model_uuid: str, duration: float
) -> bytes:
    """The `Metadata` summary Deepgram sends after `CloseStream`."""
    return compact_json(
        {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": request_id,
            "sha256": rng.randbytes(32).hex(),
            "created": "2024-05-14T09:00:00.000Z",
            "duration": round(duration, 3),
            "channels": 1,
            "models": [model_uuid],
            "model_info": {
                model_uuid: {"name": MODEL_NAME, "version": MODEL_VERSION, "arch": "nova-2"}
            },
        }
    )


def upgrade_request(ws_key: str, port: int, token: str) -> bytes:
    return (
        "GET /v1/listen?encoding=linear16&sample_rate=16000 HTTP/1.1\r\n"
        f"Host: {SERVER_IP}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {ws_key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        f"Authorization: Token {token}\r\n"
        "User-Agent: Python/3.11 websockets/12.0\r\n"
        "\r\n"
    ).encode()


def upgrade_response(ws_key: str, request_id: str) -> bytes:
    digest = hashlib.sha1((ws_key + WEBSOCKET_GUID).encode()).digest()
    accept = base64.b64encode(digest).decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n"
        f"dg-request-id: {request_id}\r\n"
        "Date: Tue, 14 May 2024 09:00:00 GMT\r\n"
        "\r\n"
    ).encode()


class SessionWriter:
    """Emits one session's packets in time order as (timestamp_us, record) pairs."""

    def __init__(self, conn: Connection, rng: random.Random, start_us: int) -> None:
        self.conn = conn
        self.rng = rng
        self.t = start_us
        self.frames: dict[int, int] = {}

    def at(self, delay_lo: int, delay_hi: int) -> int:
        """Advance the clock by a random delay; strictly increasing within a session."""
        self.t += max(1, self.rng.randint(delay_lo, delay_hi))
        return self.t

    def send(self, from_client: bool, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Data split at MSS; the peer ACKs every second segment and the last one."""
        segments = [data[i : i + MSS] for i in range(0, len(data), MSS)]
        for n, segment in enumerate(segments, 1):
            last = n == len(segments)
            flags = ACK | PSH if last else ACK
            yield self.t, self.conn.packet(self.t, from_client, flags, segment)
            if last or n % 2 == 0:
                yield self.at(15, 60), self.conn.packet(self.t, not from_client, ACK)
            if not last:
                self.at(4, 20)

    def frame(self, from_client: bool, opcode: int, payload: bytes) -> bytes:
        self.frames[opcode] = self.frames.get(opcode, 0) + 1
        return ws_frame(opcode, payload, self.rng.randbytes(4) if from_client else None)


@dataclass(frozen=True)
class Shape:
    """What every session looks like and how they overlap: the knobs of the command line."""

    chunks: int
    port: int
    seed: int
    chunk_bytes: int = CHUNK_BYTES
    stagger_us: int = SESSION_STAGGER_US


def session_packets(
    index: int, shape: Shape, audio: list[bytes], client_port: int
) -> tuple[SessionWriter, Iterator[tuple[int, bytes]]]:
    """The writer (for frame counts) and the lazy packet stream of session `index`."""
    rng = random.Random(f"{shape.seed}:session:{index}")
    client_ip = bytes([127, 0, 0, 10 + index % 10])  # 127.0.0.10 .. 127.0.0.19
    client = Side(client_ip, client_port, rng.getrandbits(32), rng.getrandbits(16))
    server = Side(SERVER_IP_BYTES, shape.port, rng.getrandbits(32), rng.getrandbits(16))
    start = BASE_EPOCH_US + index * shape.stagger_us + rng.randint(0, shape.stagger_us // 2)
    writer = SessionWriter(Connection(client, server), rng, start)
    return writer, _session_body(writer, shape.chunks, shape.port, audio)


def _session_body(
    w: SessionWriter, chunks: int, port: int, audio: list[bytes]
) -> Iterator[tuple[int, bytes]]:
    """Handshakes, the audio stream with interleaved Results, then the orderly close."""
    rng, conn = w.rng, w.conn
    ws_key = base64.b64encode(rng.randbytes(16)).decode()
    request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    model_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    token = rng.randbytes(20).hex()

    yield w.t, conn.packet(w.t, True, SYN)
    yield w.at(30, 90), conn.packet(w.t, False, SYN | ACK)
    yield w.at(10, 40), conn.packet(w.t, True, ACK)
    w.at(80, 300)
    yield w.t, conn.packet(w.t, True, PSH | ACK, upgrade_request(ws_key, port, token))
    yield w.at(2000, 9000), conn.packet(w.t, False, PSH | ACK, upgrade_response(ws_key, request_id))
    yield w.at(20, 70), conn.packet(w.t, True, ACK)

    stream_start = w.at(5000, 20000)
    for i in range(1, chunks + 1):
        scheduled = stream_start + (i - 1) * CHUNK_INTERVAL_US + rng.randint(0, 3000)
        w.t = max(scheduled, w.t + 1)
        payload = audio[rng.randrange(len(audio))]
        yield from w.send(True, w.frame(True, OP_BINARY, payload))
        if i % RESULTS_EVERY == 0:
            w.at(20_000, 60_000)
            yield from w.send(False, results_frames(w, request_id, model_uuid, i))

    w.at(80_000, 100_000)
    yield from w.send(True, w.frame(True, OP_TEXT, b'{"type": "CloseStream"}'))
    w.at(50_000, 200_000)
    duration = chunks * CHUNK_INTERVAL_US / 1e6
    metadata = metadata_message(rng, request_id, model_uuid, duration)
    yield from w.send(False, w.frame(False, OP_TEXT, metadata))
    normal_closure = struct.pack("!H", 1000)
    server_close = w.frame(False, OP_CLOSE, normal_closure)
    yield w.at(100, 500), conn.packet(w.t, False, PSH | ACK, server_close)
    client_close = w.frame(True, OP_CLOSE, normal_closure)  # also ACKs the server's close
    yield w.at(50, 200), conn.packet(w.t, True, PSH | ACK, client_close)
    yield w.at(50, 200), conn.packet(w.t, False, FIN | ACK)
    yield w.at(20, 60), conn.packet(w.t, True, FIN | ACK)
    yield w.at(10, 30), conn.packet(w.t, False, ACK)


def results_frames(w: SessionWriter, request_id: str, model_uuid: str, chunk: int) -> bytes:
    """One Results frame, or every COALESCE_EVERY chunks two that share a segment."""
    start = max(0.0, chunk * CHUNK_INTERVAL_US / 1e6 - 1.0)
    if chunk % COALESCE_EVERY:
        return w.frame(False, OP_TEXT, results_message(w.rng, request_id, model_uuid, start, 800))
    # Two frames of at most 700 bytes each (+4 header bytes) always fit one 1448 MSS.
    first = results_message(w.rng, request_id, model_uuid, start - 0.5, 700)
    second = results_message(w.rng, request_id, model_uuid, start, 700)
    return w.frame(False, OP_TEXT, first) + w.frame(False, OP_TEXT, second)


def write_capture(path: Path, sessions: int, shape: Shape) -> Stats:
    """Merge all sessions by timestamp and stream the records into one buffered file.

    The records go to a `.partial` file renamed over `path` at the end, so a benchmark
    reading the previous capture never sees a half-written one.
    """
    rng = random.Random(f"{shape.seed}:global")
    audio = audio_pool(rng, shape.chunk_bytes)
    ports = rng.sample(range(32768, 61000), sessions)  # distinct Linux ephemeral ports
    writers, streams = [], []
    for i in range(sessions):
        writer, stream = session_packets(i, shape, audio, ports[i])
        writers.append(writer)
        streams.append(stream)
    stats = Stats(sessions=sessions)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb", buffering=16 * 1024 * 1024) as out:
        out.write(PCAP_GLOBAL.pack(0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_ETHERNET))
        for _, record in heapq.merge(*streams, key=itemgetter(0)):
            out.write(record)
            stats.packets += 1
            stats.bytes += len(record)
    partial.replace(path)
    names = {OP_TEXT: "text", OP_BINARY: "binary", OP_CLOSE: "close"}
    for writer in writers:
        for opcode, count in writer.frames.items():
            name = names[opcode]
            stats.frames_by_opcode[name] = stats.frames_by_opcode.get(name, 0) + count
    stats.ws_frames = sum(stats.frames_by_opcode.values())
    stats.bytes += PCAP_GLOBAL.size
    return stats


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200, help="concurrent sessions (200)")
    parser.add_argument("--chunks", type=int, default=330, help="100 ms chunks per session (330)")
    parser.add_argument(
        "--chunk-bytes",
        type=int,
        default=CHUNK_BYTES,
        help="audio bytes per chunk (3200 = 100 ms of 16 kHz linear16; smaller makes "
        "frame-heavy captures cheap to write)",
    )
    parser.add_argument(
        "--stagger-us",
        type=int,
        default=SESSION_STAGGER_US,
        help="gap between session starts in microseconds (250000; smaller runs more "
        "sessions at once: 1000 keeps ~650 five-chunk sessions open together)",
    )
    parser.add_argument("--port", type=int, default=8080, help="server TCP port (8080)")
    parser.add_argument("--seed", type=int, default=6455, help="RNG seed (6455)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="pcap path")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    shape = Shape(args.chunks, args.port, args.seed, args.chunk_bytes, args.stagger_us)
    stats = write_capture(args.output, args.sessions, shape)
    elapsed = time.perf_counter() - began
    manifest = {
        "capture": str(args.output),
        "sessions": stats.sessions,
        "chunks_per_session": args.chunks,
        "chunk_bytes": args.chunk_bytes,
        "stagger_us": args.stagger_us,
        "packets": stats.packets,
        "bytes": stats.bytes,
        "ws_frames": stats.ws_frames,
        "ws_frames_by_opcode": stats.frames_by_opcode,
        "seed": args.seed,
    }
    manifest_path = args.output.with_name(args.output.name + ".manifest.json")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(
        f"wrote {args.output}: {stats.bytes / 1e6:.1f} MB, {stats.packets} packets, "
        f"{stats.ws_frames} WebSocket frames {stats.frames_by_opcode}, "
        f"{stats.sessions} sessions in {elapsed:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
