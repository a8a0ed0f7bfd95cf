"""The frames a log records are a log-only session's frames (issue 13, item 3).

Python websockets' DEBUG log prints every frame it sends (`>`) and receives (`<`),
`OPCODE <payload, elided> [<n> bytes]`. The expected values below were counted on the
files with `grep -E '[<>] [A-Z]+ .*\\[[^]]*[0-9]+ bytes?[^]]*\\]$'`:

- idle-1011/client.log: 24 frame lines: 20 `> BINARY ... [3200 bytes]` (lines 24-33 and
  36-45), `< TEXT ... [454 bytes]` (line 34), `< TEXT ... [451 bytes]` (line 46),
  `< CLOSE 1011 ... [110 bytes]` (line 50) and the client's echo `> CLOSE 1011 ...
  [110 bytes]` (line 51).
- idle-1011/server.log: the same 24 frames seen from the server: 20 `< BINARY`, two
  `> TEXT`, the server's `> CLOSE 1011` and the client's echo `< CLOSE 1011`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import polars as pl
from websockets.frames import Frame, Opcode

from analyzer.ingest.logpacks import load_packs
from analyzer.ingest.logs import match_lines

from conftest import SAMPLES, run_cli

IDLE = SAMPLES / "idle-1011"
# A websockets frame line: its time, direction, opcode and byte count.
LINE = re.compile(r"^(\S+) DEBUG websockets\.\w+: ([<>]) ([A-Z]+) .*\[[^]]*?(\d+) bytes?[^]]*\]$")


def _frames(*inputs: Path) -> list[dict]:
    proc = run_cli("frames", *inputs, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _lines(log: Path) -> list[tuple[datetime, str, str, int]]:
    found = (LINE.match(line) for line in log.read_text().splitlines())
    return [(datetime.fromisoformat(m[1]), m[2], m[3].lower(), int(m[4])) for m in found if m]


def test_a_client_log_alone_gives_the_frames_it_prints() -> None:
    frames = _frames(IDLE / "client.log")
    lines = _lines(IDLE / "client.log")
    assert len(lines) == 24 and len(frames) == 24
    assert all(f["frame"] is None and f["fin"] is True for f in frames)
    assert {f["session"] for f in frames} == {"s1"}
    # Each frame is its line: same time, opcode and size; a client's `>` is the client's.
    got = [
        (datetime.fromisoformat(f["time"]), f["from_client"], f["opcode"], f["payload_len"])
        for f in frames
    ]
    want = [(t, d == ">", op, n) for t, d, op, n in lines]
    assert got == want
    sizes = [(f["from_client"], f["opcode"], f["payload_len"]) for f in frames]
    assert sizes.count((True, "binary", 3200)) == 20
    assert (False, "text", 454) in sizes and (False, "text", 451) in sizes
    closes = [f for f in frames if f["opcode"] == "close"]
    assert [(f["from_client"], f["close_code"], f["payload_len"]) for f in closes] == [
        (False, 1011, 110),
        (True, 1011, 110),
    ]
    assert closes[0]["time"] == "2026-11-21T20:26:01.517000Z"
    assert all(f["close_code"] is None for f in frames if f["opcode"] != "close")


def test_a_server_log_gives_the_other_direction() -> None:
    """The server's `<` is from the client, its `>` from the server."""
    frames = _frames(IDLE / "server.log")
    lines = _lines(IDLE / "server.log")
    assert len(frames) == len(lines) == 24
    got = [(f["from_client"], f["opcode"], f["payload_len"]) for f in frames]
    assert got == [(d == "<", op, n) for _, d, op, n in lines]
    assert got.count((True, "binary", 3200)) == 20
    closes = [(f["from_client"], f["close_code"]) for f in frames if f["opcode"] == "close"]
    assert closes == [(False, 1011), (True, 1011)]  # the server's close, the client's echo


def test_both_logs_of_one_session_give_each_frame_once() -> None:
    frames = _frames(IDLE / "client.log", IDLE / "server.log")
    assert len(frames) == 24 and {f["session"] for f in frames} == {"s1"}


def test_a_captured_session_keeps_the_capture_frames_only() -> None:
    alone = _frames(IDLE / "capture.pcap")
    assert _frames(IDLE / "capture.pcap", IDLE / "client.log") == alone
    assert all(isinstance(f["frame"], int) for f in alone)


def test_fragments_and_an_empty_close_as_websockets_prints_them() -> None:
    """The library's own printing (Frame.__str__): a non-final fragment says `continued`,
    a one-byte payload `1 byte`, an empty close `''` with no code (contract: null)."""
    sent = [
        Frame(Opcode.TEXT, b'{"type": "Res', fin=False),
        Frame(Opcode.CONT, b'ults"}'),
        Frame(Opcode.PONG, b"a"),
        Frame(Opcode.CLOSE, b""),
    ]
    raw = [f"2026-11-21T20:25:50.505Z DEBUG websockets.client: > {f}" for f in sent]
    lines = pl.DataFrame({"line": range(1, len(raw) + 1), "raw": raw})
    events = match_lines(lines, load_packs())
    got = events.select("opcode", "payload_len", "fin", "close_code", "close_reason").rows()
    assert got == [
        ("text", 13, False, None, None),
        ("continuation", 6, True, None, None),
        ("pong", 1, True, None, None),
        ("close", 0, True, None, None),
    ]


def test_the_report_timeline_draws_a_log_only_session_frames(tmp_path: Path) -> None:
    """`analyze`'s timeline shows the log's frames, and its closes have no frame number."""
    report = tmp_path / "r.html"
    proc = run_cli("analyze", IDLE / "client.log", "-o", report)
    assert proc.returncode == 0, proc.stderr
    tips = re.findall(r"<title>([^<]*)</title>", report.read_text())
    assert sum(t.endswith("1 data frame, 3,200 bytes") for t in tips) == 20
    closes = [t for t in tips if " close 1011 " in t]
    assert len(closes) == 2, closes
    assert all(t.endswith(", at +11.9 s") and "frame #" not in t for t in closes), closes


def test_the_frames_table_marks_a_log_frame_as_having_no_capture_frame() -> None:
    proc = run_cli("frames", SAMPLES / "idle-1011" / "client.log")
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split()[:2] == ["SESSION", "FRAME"] and len(rows) == 24
    assert {row.split()[1] for row in rows} == {"-"}  # not "None"
