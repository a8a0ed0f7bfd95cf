"""Shards that stream: named pipes a tshark reads while the capture is still being cut.

Cutting a big capture reads and writes all of it (about a second for 240 MB); a shard in
a plain file can only be dissected once the cut is over. The first shards of a local run
are named pipes instead, so the tsharks that read them work while the cut goes on, and
only the remaining shards (there are more shards than tsharks when a capture is big)
wait for it. Not for a cluster: a remote worker cannot read a pipe on this machine.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO

from analyzer.ingest.shards import WRITE_BYTES, Unshardable, open_file

WAIT_S = 0.005
QUEUED = 8  # chunks of WRITE_BYTES waiting per pipe, at most


def make(paths: list[Path]) -> list[Path]:
    """Named pipes at `paths`; none (all plain files, then) where the system has none."""
    try:
        for path in paths:
            os.mkfifo(path)
    except (OSError, AttributeError):  # AttributeError: no mkfifo on Windows
        for path in paths:
            path.unlink(missing_ok=True)
        return []
    return paths


def opener(readers: dict[Path, Future]) -> Callable[[Path], BinaryIO]:
    """Opens a shard for writing: a pipe once its tshark has it open for reading (never
    blocking on one whose reader failed to start), any other path as a file."""

    def open_shard(path: Path) -> BinaryIO:
        reader = readers.get(path)
        if reader is None:
            return open_file(path)
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:  # ENXIO: nobody reads it yet
                if reader.done():
                    raise Unshardable(f"the reader of {path.name} ended early") from exc
                time.sleep(WAIT_S)
        import fcntl  # POSIX only, as are named pipes: `make` made none elsewhere

        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return _Pipe(fd)  # type: ignore[return-value]

    return open_shard


class _Pipe:
    """A pipe's write end that does not hold up the cut: a pipe takes 64 KB at a time, so
    writing each shard's pipe in turn would leave one tshark waiting while the cut waits
    on the other. Whole chunks go to a thread per pipe, at most QUEUED of them waiting."""

    def __init__(self, fd: int) -> None:
        self.fd, self.error = fd, None
        self.parts: list[bytes | memoryview] = []
        self.size = 0
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def write(self, data: bytes | memoryview) -> int:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= WRITE_BYTES:
            self._send()
        return len(data)

    def close(self) -> None:
        if self.fd < 0:
            return
        if self.parts:
            self._send()
        self.chunks.put(None)
        self.thread.join()
        os.close(self.fd)
        self.fd = -1
        if self.error:
            raise self.error

    def _send(self) -> None:
        if self.error:
            raise self.error  # its tshark is gone: the cut fails now, not at the end
        self.chunks.put(b"".join(self.parts))
        self.parts, self.size = [], 0

    def _drain(self) -> None:
        while (chunk := self.chunks.get()) is not None:
            view = memoryview(chunk)
            while view and self.error is None:
                try:
                    view = view[os.write(self.fd, view) :]
                except OSError as exc:  # a broken pipe: keep taking chunks, write none
                    self.error = exc


def release(readers: dict[Path, Future]) -> None:
    """After a cut that failed: end every pipe's reader (an open and close of the write
    end is an end of file), also one whose write end was never opened, and wait for it."""
    for path, reader in readers.items():
        while not reader.done():
            with contextlib.suppress(OSError):  # its tshark has not opened the pipe yet
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            time.sleep(WAIT_S)
