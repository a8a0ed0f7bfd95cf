"""Hostile log inputs: warnings and counts, never a traceback or unbounded memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from analyzer import redact
from analyzer.errors import InputError
from analyzer.ingest.logpacks import load_packs
from analyzer.ingest.logs import MAX_LINE, read_log

PACKS = load_packs()
REAL = (
    "2026-11-21T20:26:01.519Z WARNING client: reader: received 1011 (internal error) "
    "NET-0001; then sent 1011 (internal error) NET-0001\n"
)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    data = read_log(path, PACKS)
    assert (data.lines_total, data.lines_matched, data.events.height) == (0, 0, 0)
    assert data.pack is None


def test_binary_garbage_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "core.log"
    path.write_bytes(bytes(range(256)) * 400 + b"\x00" * 10000)
    data = read_log(path, PACKS)
    assert data.events.height == 0
    assert any("does not look like a text log" in w for w in data.warnings)


def test_latin1_lines_are_replaced_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    latin = "2026-11-21T20:26:02.000Z INFO client: caf\u00e9 \u00fcber\n".encode("latin-1")
    path.write_bytes(REAL.encode() + latin * 3 + REAL.encode())
    data = read_log(path, PACKS)
    assert data.lines_total == 5 and data.lines_matched == 2
    assert data.events["line"].to_list() == [1, 5]
    assert any("3 line(s) are not valid UTF-8" in w for w in data.warnings)


def test_long_single_line_is_cut_in_bounded_chunks(tmp_path: Path) -> None:
    path = tmp_path / "one-line.log"
    with path.open("wb") as fh:
        block = b"A" * (1 << 20)
        for _ in range(200):  # 200 MB, no newline
            fh.write(block)
    data = read_log(path, PACKS, chunk_bytes=8 << 20)
    assert data.lines_total == 1 and data.events.height == 0
    assert any(f"1 line(s) longer than {MAX_LINE} bytes were cut" in w for w in data.warnings)


def test_long_line_between_real_lines_keeps_numbering(tmp_path: Path) -> None:
    path = tmp_path / "mid.log"
    path.write_bytes(REAL.encode() + b"B" * (3 * MAX_LINE) + b"\n" + REAL.encode())
    data = read_log(path, PACKS, chunk_bytes=MAX_LINE)
    assert data.events["line"].to_list() == [1, 3]
    assert any("were cut" in w for w in data.warnings)


def test_chunk_boundaries_do_not_split_lines(tmp_path: Path) -> None:
    path = tmp_path / "many.log"
    path.write_bytes(REAL.encode() * 500)
    small = read_log(path, PACKS, chunk_bytes=16000)
    assert small.lines_total == 500 and small.lines_matched == 500
    assert small.events["line"].to_list() == list(range(1, 501))


def test_crlf_and_no_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "crlf.log"
    path.write_bytes(REAL.replace("\n", "\r\n").encode() + REAL.rstrip("\n").encode())
    data = read_log(path, PACKS)
    assert data.lines_matched == 2 and not data.events["text"].str.ends_with("\r").any()


def test_unmatched_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "prose.log"
    path.write_text("hello\nworld\n")
    data = read_log(path, PACKS)
    assert (data.lines_total, data.lines_matched) == (2, 0)
    assert any("none of 2 line(s) matched" in w for w in data.warnings)


def test_secrets_in_lines_are_redacted(tmp_path: Path) -> None:
    path = tmp_path / "key.log"
    key = "0123456789abcdef0123456789abcdef01234567"
    path.write_text(
        f"2026-11-21T20:26:01Z ERROR x: server rejected WebSocket connection: HTTP 401 key={key}\n"
    )
    text = read_log(path, PACKS).events["text"][0]
    assert key not in text and "redacted" in text


def test_missing_file_and_bad_tz_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_log(tmp_path / "nope.log", PACKS)
    path = tmp_path / "a.log"
    path.write_text(REAL)
    with pytest.raises(InputError):
        read_log(path, PACKS, tz="Mars/Olympus")


def test_iso_times_with_z_and_offsets_parse(tmp_path: Path) -> None:
    """A Z zone must not break the offset arithmetic evaluated for every row."""
    log = tmp_path / "node.log"
    log.write_text(
        "2026-11-21T20:25:49.603Z client: received 1011 (internal error) NET-0001; then sent 1011\n"
        "2026-11-21T21:25:49.603+01:00 client: no close frame received or sent\n"
    )
    events = read_log(log).events
    assert events.height == 2
    assert events["time"].dt.hour().to_list() == [20, 20]


def test_no_redact_reaches_the_worker_threads(tmp_path: Path) -> None:
    """`redact.disabled()` is context state; blocks are matched on other threads."""
    path = tmp_path / "key.log"
    key = "0123456789abcdef0123456789abcdef01234567"
    line = f"2026-11-21T20:26:01Z ERROR x: server rejected WebSocket connection: HTTP 401 {key}\n"
    path.write_text(line * 50)
    with redact.disabled():
        text = read_log(path, PACKS, chunk_bytes=1000).events["text"]
    assert text.len() == 50 and text.str.contains(key).all()


def test_many_blocks_on_threads_equal_one_block(tmp_path: Path) -> None:
    corpus = Path(__file__).resolve().parents[2] / "sample_captures"
    body = b"".join(p.read_bytes() for p in sorted(corpus.glob("*/client.log")))
    path = tmp_path / "all.log"
    path.write_bytes(body * 3)
    one = read_log(path, PACKS, chunk_bytes=len(body) * 4)
    many = read_log(path, PACKS, chunk_bytes=4096)
    assert one.events.height > 100 and one.lines_total == many.lines_total
    assert_frame_equal(one.events, many.events)


def test_every_trailing_carriage_return_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "cr.log"
    path.write_bytes(REAL.replace("\n", "\r\r\n").encode() * 2)
    data = read_log(path, PACKS)
    assert data.lines_matched == 2 and not data.events["text"].str.contains("\r").any()
