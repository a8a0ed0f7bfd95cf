"""Running a tshark pass: its output streamed into polars, and the packet total beside it.

tshark prints one line per packet (tshark_argv.py); the text is parsed into polars in
CHUNK_BYTES blocks while tshark is still running, so parsing overlaps dissection.
Per-packet Python objects never exist. `capinfos` counts the file's packets and reads its
first and last packet time in parallel, since the display filter keeps tshark's own output
to the packets that matter.
"""

from __future__ import annotations

import collections
import io
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import polars as pl

from analyzer.errors import InputError
from analyzer.ingest import prestart
from analyzer.ingest.tshark import INSTALL_HINT, Tshark
from analyzer.ingest.tshark_argv import FIELDS

T = TypeVar("T")
# A block's parse holds ~10x its text at once (every cell a 16-byte string view), and two
# shards' blocks may be parsed together. On the 241 MB benchmark, 8 MB blocks peaked at
# 789/1069 MiB (`--jobs 1`/default, whole tree), 4 MB at 736/986, 2 MB at 719/949; below
# 4 MB the Python CPU grew (+0.8 s of 7 s on 10,000 short sessions at 2 MB, +1 s at 1 MB).
CHUNK_BYTES = 4 << 20
# Every dissection running in this process, so a run that fails elsewhere (a rule pack
# with a typo, found while tshark works) can stop them rather than wait for them.
_RUNNING: set[subprocess.Popen[bytes]] = set()
_STOPPED = threading.Event()
PIPE_BYTES = 1 << 16  # one read of tshark's pipe, at most
BACKLOG_BYTES = 32 << 20  # tshark's text read but not yet parsed, at most


@dataclass
class RunResult:
    """What one tshark run produced besides the rows: its verdict on the file."""

    returncode: int
    stderr_lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Census:
    """What capinfos read from every record header: the packet total and the earliest and
    latest packet time (epoch nanoseconds; None when it could not tell)."""

    packets: int | None
    first_ns: int | None = None
    last_ns: int | None = None


def start_census(tshark: Tshark, capture: Path | str) -> subprocess.Popen[str] | None:
    """Start `capinfos -c -a -e` beside the dissection: it costs no wall time.

    The display filter keeps tshark's output to packets that matter, so the rows cannot
    say how many packets the file holds, nor when its first and last packet (a pure ACK, a
    DNS query) were; capinfos reads only record headers.
    """
    binary = shutil.which("capinfos", path=os.path.dirname(tshark.path)) or shutil.which("capinfos")
    if binary is None:
        return None
    return subprocess.Popen(
        [binary, "-c", "-a", "-e", "-S", "-M", "-T", "-r", str(capture)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def finish_census(proc: subprocess.Popen[str] | None) -> Census:
    """The census from `start_census`; all None when capinfos could not tell.

    On a damaged file capinfos prints no table, only "An error occurred after reading N
    packets": N is then the number of packets that could be read, and no times.
    """
    if proc is None:
        return Census(None)
    out, err = proc.communicate()
    fields = out.strip().split("\t")
    if len(fields) >= 4 and fields[-3].isdigit():
        return Census(int(fields[-3]), _epoch_ns(fields[-2]), _epoch_ns(fields[-1]))
    read = re.search(r"after reading (\d+) packets?", err)
    return Census(int(read.group(1)) if read else None)


def _epoch_ns(text: str) -> int | None:
    """`1795292749.599439` (or nanosecond digits) -> epoch ns; None for `n/a`."""
    whole, _, frac = text.strip().partition(".")
    if not whole.lstrip("-").isdigit() or not (frac == "" or frac.isdigit()):
        return None
    ns = int(frac[:9].ljust(9, "0")) if frac else 0
    return int(whole) * 1_000_000_000 + (-ns if whole.startswith("-") else ns)


def read_packets(
    argv: list[str],
    on_progress: Callable[[int, int], None] | None = None,
    columns: list[str] | None = None,
) -> tuple[pl.DataFrame, RunResult]:
    """Run tshark and parse its output into one all-String DataFrame.

    `columns` names the `-e` fields of argv in order (default: FIELDS).
    """
    names = columns or list(FIELDS)
    blocks, run = stream_packets(argv, lambda block: block, on_progress, names)
    return (pl.concat(blocks) if blocks else empty_packets(names)), run


def stream_packets(
    argv: list[str],
    each: Callable[[pl.DataFrame], T],
    on_progress: Callable[[int, int], None] | None = None,
    columns: list[str] | None = None,
) -> tuple[list[T], RunResult]:
    """Run tshark and hand its output to `each` block by block (all-String DataFrames of
    CHUNK_BYTES of text) while tshark is still running: the blocks' work overlaps the
    dissection, and only what `each` keeps stays in memory."""
    names = columns or list(FIELDS)
    try:
        proc = prestart.adopt(argv) or prestart.spawn(argv)
    except OSError as exc:
        raise InputError(
            f"cannot start: {exc.strerror}", source=argv[0], hint=INSTALL_HINT
        ) from None
    _RUNNING.add(proc)
    if _STOPPED.is_set():
        proc.kill()
    stderr_lines: list[str] = []
    err_thread = threading.Thread(
        target=_drain_lines, args=(proc.stderr, stderr_lines), daemon=True
    )
    err_thread.start()
    try:
        kept = [each(_parse_chunk(chunk, names)) for chunk in _chunks(proc, on_progress)]
    finally:
        proc.wait()
        _RUNNING.discard(proc)
    err_thread.join()
    return kept, RunResult(proc.returncode, stderr_lines)


@contextmanager
def stopped() -> Iterator[None]:
    """Within: every dissection of this process is killed, those started too; the caller
    waits inside for whatever was running tshark to end."""
    _STOPPED.set()
    try:
        for proc in list(_RUNNING):
            proc.kill()
        yield
    finally:
        _STOPPED.clear()


def _chunks(
    proc: subprocess.Popen[bytes], on_progress: Callable[[int, int], None] | None
) -> Iterator[bytes]:
    """Yield newline-terminated blocks of about CHUNK_BYTES (few polars parses); a reader
    thread keeps tshark's pipe drained in pipe-sized reads, each of which moves the
    progress on, so a person sees the count grow rather than one jump at the end."""
    blocks = _Backlog(BACKLOG_BYTES)
    threading.Thread(target=_pump, args=(proc.stdout, blocks), daemon=True).start()
    parts: list[bytes] = []
    size = 0
    while (block := blocks.get()) is not None:
        parts.append(block)
        size += len(block)
        if on_progress and (position := _last_position(block)):
            on_progress(*position)
        if size >= CHUNK_BYTES:
            pending = b"".join(parts)
            cut = pending.rfind(b"\n") + 1
            if cut:
                yield pending[:cut]
            parts, size = [pending[cut:]], len(pending) - cut
    if pending := b"".join(parts):
        yield pending if pending.endswith(b"\n") else pending + b"\n"


class _Backlog:
    """tshark's text between the reader thread and the parser, bounded in bytes. A bound
    in reads was too small: tshark writes 4 KB at a time, so 64 reads held 256 KB, and
    while a block was being typed tshark sat on a full pipe for 8 % of its run."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self.parts: collections.deque[bytes | None] = collections.deque()
        self.changed = threading.Condition()

    def put(self, block: bytes | None) -> None:
        """Waits for room; the end (None) never does."""
        with self.changed:
            self.changed.wait_for(lambda: block is None or self.size < self.limit)
            self.parts.append(block)
            self.size += len(block or b"")
            self.changed.notify_all()

    def get(self) -> bytes | None:
        with self.changed:
            self.changed.wait_for(lambda: self.parts)
            block = self.parts.popleft()
            self.size -= len(block or b"")
            self.changed.notify_all()
            return block


def _pump(stream: io.BufferedReader, out: _Backlog) -> None:
    try:
        while block := stream.read1(PIPE_BYTES):
            out.put(block)
    finally:
        out.put(None)


def _drain_lines(stream: io.BufferedReader, sink: list[str]) -> None:
    for raw in stream:
        sink.append(raw.decode("utf-8", "replace").rstrip())


def _last_position(block: bytes) -> tuple[int, int] | None:
    """(packets read, byte offset) from the last whole line of a block: its frame number
    and file offset (the first and third fields). The frame number, not a count of lines,
    is the packets read: the display filter leaves the non-TCP ones (DNS, ARP) unprinted.
    None when the block holds no whole line that starts in it."""
    end = block.rfind(b"\n")
    start = block.rfind(b"\n", 0, end) + 1 if end > 0 else 0
    if end <= 0 or start == 0:
        return None
    cells = block[start:end].split(b"\t", 3)
    try:
        return int(cells[0]), int(cells[2])
    except (IndexError, ValueError):
        return None


def _parse_chunk(chunk: bytes, names: list[str]) -> pl.DataFrame:
    return pl.read_csv(
        io.BytesIO(chunk),
        separator="\t",
        has_header=False,
        quote_char=None,
        new_columns=names,
        schema=dict.fromkeys(names, pl.String),
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
    )


def empty_packets(names: list[str]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
