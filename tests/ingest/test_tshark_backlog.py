"""tshark's text waits between the pipe reader and the parser in a backlog bounded in
bytes, not in reads (analyzer/ingest/tshark_run.py): tshark writes 4 KB at a time, and a
bound of 64 reads made it wait on a full pipe while a block was being typed."""

from __future__ import annotations

import threading
import time

from analyzer.ingest.tshark_run import _Backlog


def _settled(check, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_many_small_reads_fit_and_the_bound_is_in_bytes() -> None:
    backlog = _Backlog(64 << 10)
    for _ in range(200):  # 200 writes of 100 bytes: far more reads than 64, far fewer bytes
        backlog.put(b"x" * 100)
    assert backlog.size == 20_000
    assert b"".join(backlog.get() for _ in range(200)) == b"x" * 20_000
    assert backlog.size == 0


def test_a_full_backlog_holds_the_reader_until_the_parser_takes_a_block() -> None:
    backlog = _Backlog(1000)
    backlog.put(b"a" * 1000)
    reader = threading.Thread(target=backlog.put, args=(b"b",), daemon=True)
    reader.start()
    time.sleep(0.1)
    assert reader.is_alive() and list(backlog.parts) == [b"a" * 1000]  # it waits for room
    assert backlog.get() == b"a" * 1000
    assert _settled(lambda: not reader.is_alive())
    assert backlog.get() == b"b"


def test_the_end_is_never_held_back() -> None:
    backlog = _Backlog(10)
    backlog.put(b"0123456789")
    backlog.put(None)  # returns at once though the backlog is full
    assert [backlog.get(), backlog.get()] == [b"0123456789", None]
