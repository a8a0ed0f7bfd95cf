"""Conformance on captures nobody here recorded: the engine against plain tshark.

The inputs are the public captures of ../shared/external-captures (suricata-verify, nDPI,
Arkime, Zeek, pcap2har, PcapPlusPlus; sources in its README). The oracle is plain
`tshark -T fields`, with none of the engine's options (no heuristic, no port overrides):

- every WebSocket session is found: each TCP stream holding a WebSocket frame, a 101 or an
  `Upgrade: websocket` request is one session, and no other plain-text stream is;
- frames are exact: per stream, (frame.number, opcode, FIN, MASK, payload length, close
  code) of every WebSocket frame, in order, and each frame's time;
- each session's first/last frame and start/end are those of every packet of its TCP
  stream (`-Y tcp.stream==N`), pure ACKs included, and it saw a SYN iff the stream has one;
- TLS connections (tshark dissected TLS on them) are the `encrypted` sessions, with their
  SNI; the capture's start/end are capinfos' earliest and latest packet.

Two captures hold frames of a session whose handshake is not in the file; plain tshark
only reads those with Decode As, given here per stream (a stream whose handshake *is* in
the file must not be forced, or its HTTP request would be read as frames).
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from conftest import EXTERNAL, loaded

CAPTURES = sorted(EXTERNAL.glob("*.pcap*"))
# file -> (port, streams) read with `-d tcp.port==PORT,websocket`: sessions joined mid-way.
DECODE_AS = {
    "ndpi-websocket-midstream.pcap": (12345, {0}),
    "pcap2har-ipv4-websocket-segmented.pcap": (9696, {0}),
}
OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
FrameKey = tuple[int, str, bool, bool, int, int | None]


@dataclass
class Truth:
    """What plain tshark says about one capture."""

    spans: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)  # first/last
    syn: set[int] = field(default_factory=set)  # streams whose SYN (without ACK) is here
    tls: dict[int, str | None] = field(default_factory=dict)  # stream -> SNI
    websocket: set[int] = field(default_factory=set)
    frames: dict[int, list[FrameKey]] = field(default_factory=dict)
    frame_times: dict[int, list[int]] = field(default_factory=dict)


def _tshark(path: Path, display: str, fields: list[str], *extra: str) -> list[list[str]]:
    argv = ["tshark", "-n", "-r", str(path), *extra, "-Y", display, "-T", "fields"]
    argv += ["-E", "occurrence=a", "-E", "aggregator=|"]
    argv += [arg for name in fields for arg in ("-e", name)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def _ns(epoch: str) -> int:
    whole, _, frac = epoch.partition(".")
    return int(whole) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])


@functools.cache
def truth(name: str) -> Truth:
    path = EXTERNAL / name
    t = Truth()
    for stream, number, when, tls, sni, flags in _tshark(
        path,
        "tcp",
        [
            "tcp.stream",
            "frame.number",
            "frame.time_epoch",
            "tls",
            "tls.handshake.extensions_server_name",
            "tcp.flags",
        ],
    ):
        s, n, ns = int(stream), int(number), _ns(when)
        if int(flags, 16) & 0x12 == 0x02:
            t.syn.add(s)
        first, last, start, end = t.spans.get(s, (n, n, ns, ns))
        t.spans[s] = (min(first, n), max(last, n), min(start, ns), max(end, ns))
        if tls:
            t.tls[s] = t.tls.get(s) or sni.split("|")[0] or None
    port, forced = DECODE_AS.get(name, (None, set()))
    _read_websocket(t, path, (), lambda s: s not in forced)
    if forced:
        _read_websocket(t, path, ("-d", f"tcp.port=={port},websocket"), lambda s: s in forced)
    return t


def _read_websocket(
    t: Truth, path: Path, extra: tuple[str, ...], keep: Callable[[int], bool]
) -> None:
    fields = ["tcp.stream", "frame.number", "frame.time_epoch", "http.response.code",
              "websocket.opcode", "websocket.fin", "websocket.mask", "websocket.payload_length",
              "websocket.payload_length_ext_16", "websocket.payload_length_ext_64",
              "websocket.payload.close.status_code"]  # fmt: skip
    display = 'websocket || http.response.code == 101 || lower(http.upgrade) contains "websocket"'
    for row in _tshark(path, display, fields, *extra):
        stream = int(row[0])
        if not keep(stream):
            continue
        t.websocket.add(stream)
        for key in _frame_keys(int(row[1]), row[4:]):
            t.frames.setdefault(stream, []).append(key)
            t.frame_times.setdefault(stream, []).append(_ns(row[2]))


def _frame_keys(number: int, cols: list[str]) -> list[FrameKey]:
    """One key per frame of a packet: optional fields zip by rank among the frames that
    carry them (16/64-bit length iff the 7-bit code is 126/127; a code iff close >= 2)."""
    if not cols[0]:
        return []
    opcode, fin, mask, len7, ext16, ext64, codes = (c.split("|") if c else [] for c in cols)
    ext = {126: iter(ext16), 127: iter(ext64)}
    code_values = iter(codes)
    keys = []
    for op, f, m, n in zip(opcode, fin, mask, len7, strict=True):
        length = int(next(ext[int(n)])) if int(n) in ext else int(n)
        code = int(next(code_values)) if int(op) == 8 and length >= 2 else None
        keys.append((number, OPCODES[int(op)], f == "1", m == "1", length, code))
    return keys


def _sessions(path: Path) -> pl.DataFrame:
    return loaded(path).sessions


def test_every_external_capture_is_here() -> None:
    assert len(CAPTURES) == 15, CAPTURES


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_websocket_session_is_found(path: Path) -> None:
    t = truth(path.name)
    plain = _sessions(path).filter(pl.col("kind") != "encrypted")
    assert sorted(plain["tcp_stream"].to_list()) == sorted(t.websocket)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_frames_are_exact(path: Path) -> None:
    t, data = truth(path.name), loaded(path)
    frames = data.frames.sort("tcp_stream", "frame", maintain_order=True)
    for stream in sorted(t.websocket):
        mine = frames.filter(pl.col("tcp_stream") == stream)
        keys = [
            (r["frame"], r["opcode"], r["fin"], r["masked"], r["payload_len"], r["close_code"])
            for r in mine.iter_rows(named=True)
        ]
        assert keys == t.frames.get(stream, []), f"stream {stream}"
        times = [_as_ns(x) for x in mine["time"]]
        assert times == [_us(ns) for ns in t.frame_times.get(stream, [])]
    assert frames.height == sum(len(v) for v in t.frames.values())


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_session_spans_cover_every_packet_of_the_connection(path: Path) -> None:
    t = truth(path.name)
    for row in _sessions(path).iter_rows(named=True):
        first, last, start, end = t.spans[row["tcp_stream"]]
        assert (row["first_frame"], row["last_frame"]) == (first, last), row["id"]
        assert (_as_ns(row["start"]), _as_ns(row["end"])) == (_us(start), _us(end)), row["id"]
        assert row["syn_seen"] is (row["tcp_stream"] in t.syn), row["id"]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_tls_connections_are_the_encrypted_sessions(path: Path) -> None:
    t = truth(path.name)
    encrypted = _sessions(path).filter(pl.col("kind") == "encrypted")
    expected = {s: sni for s, sni in t.tls.items() if s not in t.websocket}
    assert dict(zip(encrypted["tcp_stream"], encrypted["sni"], strict=True)) == expected


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_capture_start_and_end_are_capinfos(path: Path) -> None:
    out = subprocess.run(
        ["capinfos", "-a", "-e", "-S", "-T", "-r", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    first, last = out.strip().splitlines()[-1].split("\t")[-2:]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    [facts] = loaded(path).captures
    assert facts["start"] == epoch + timedelta(microseconds=_ns(first) // 1000)
    assert facts["end"] == epoch + timedelta(microseconds=_ns(last) // 1000)


def _us(ns: int) -> int:
    return ns // 1000 * 1000


def _as_ns(when: datetime) -> int:
    """polars hands ns datetimes to Python as microseconds: compare at that precision."""
    return int((when - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000


def test_truth_written_down() -> None:
    """What reading the captures by hand showed, so the oracle itself is checked: the
    lone 101 of PcapPlusPlus's server-only capture (frame 475, stream 207), the arkime
    synthetic fragment + ping + continuation in one packet (829), the 1kxun trimmed flows
    (request + 101 only, streams 30-32) and its 8 TLS connections, 11 in arkime-synthetic."""
    assert truth("pcapplusplus-650HttpResponses.pcap").websocket == {207}
    assert truth("arkime-synthetic.pcap").frames[89] == [
        (827, "text", True, True, 16, None),
        (829, "text", False, True, 12, None),
        (829, "ping", True, True, 0, None),
        (829, "continuation", True, True, 12, None),
        (833, "close", True, False, 11, 1000),
    ]
    kxun = truth("ndpi-1kxun.pcap")
    assert kxun.websocket == {30, 31, 32} and not kxun.frames and len(kxun.tls) == 8
    assert len(truth("arkime-synthetic.pcap").tls) == 11
