"""Cutting a capture into shards by TCP connection, so several tsharks can dissect it.

Every fact the engine reads is a fact of one TCP connection (reassembly, HTTP, TLS,
WebSocket framing), so a capture cut by connection, with both directions of a connection
in one shard, dissects to the same rows as the whole file. A cut by time does not: the
second chunk of a long connection has no handshake and decodes no WebSocket.

The reader walks record headers (pcap, pcapng, gzip of either) and routes each packet by
its TCP 4-tuple, both directions alike; a new connection goes to the shard with the
fewest bytes so far. Each shard remembers the original frame number of each of its
packets, so rows map back. Packets that are not TCP are never printed (the display filter
is `tcp`); they go to the first shard and only keep their frame numbers.

Anything the reader cannot route with certainty raises `Unshardable` and the caller reads
the file in one piece: IP fragments, ICMP errors quoting a TCP header, link types it does
not know, pcapng blocks that might count as frames, damaged or truncated files.
"""

from __future__ import annotations

import contextlib
import gzip
import struct
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from analyzer.ingest.capture_magic import GZIP_MAGIC, PCAP_MAGICS
from analyzer.ingest.shard_links import ETHERNET, TCP, Unshardable, connection_key, reverse

READ_BYTES = 8 << 20
WRITE_BYTES = 1 << 20
SHB = 0x0A0D0D0A
IDB, SPB, EPB, PB = 1, 3, 6, 2
# pcapng blocks that are never frames: copied into every shard (interfaces, names,
# statistics, decryption secrets), so each shard is a whole, valid capture.
SHARED_BLOCKS = frozenset({SHB, IDB, 4, 5, 0x0000000A})

__all__ = ["Cut", "Unshardable", "cut"]


@dataclass(frozen=True)
class Cut:
    """The shard files and, per shard, the original frame number of its n-th packet."""

    paths: list[Path]
    frames: list[array]
    packets: int


def cut(path: Path, into: list[Path], opener: Callable[[Path], BinaryIO] | None = None) -> Cut:
    """Write `path`'s packets into the files `into` (one per shard), by TCP connection.
    `opener` opens a shard for writing (a pipe a tshark already reads, say)."""
    writers: list[BinaryIO] = []
    try:
        for shard in into:
            writers.append((opener or open_file)(shard))
        split = _Splitter(writers)
        with _open(path) as source:
            head = source.read(4)
            if head in PCAP_MAGICS:
                _pcap(source, head, split)
            elif len(head) == 4 and struct.unpack("<I", head)[0] == SHB:
                _pcapng(source, head, split)
            else:
                raise Unshardable("neither pcap nor pcapng")
        while writers:  # closed here, so a failed flush (a full disk) is a failure too
            writers.pop().close()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise Unshardable(f"cannot read or write: {exc}") from None
    finally:
        for w in writers:
            with contextlib.suppress(OSError):  # already failing; a reader may be gone
                w.close()
    return Cut(list(into), split.frames, split.count)


def open_file(path: Path) -> BinaryIO:
    """A shard file, opened for the cut's writes."""
    return open(path, "wb", buffering=WRITE_BYTES)


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as fh:
        gz = fh.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if gz else path.open("rb")  # type: ignore[return-value]


class _Splitter:
    """Routes packets to shards: one connection, one shard, least-loaded first."""

    def __init__(self, writers: list[BinaryIO]) -> None:
        self.writers = writers
        self.frames = [array("q") for _ in writers]
        self.load = [0] * len(writers)
        self.home: dict[bytes, int] = {}  # each direction's key -> its connection's shard
        self.count = 0

    def shared(self, block: bytes | memoryview) -> None:
        for w in self.writers:
            w.write(block)

    def shard(self, key: bytes | None) -> int:
        if key is None:
            return 0
        found = self.home.get(key)
        if found is None:
            found = self.home.get(reverse(key))
            if found is None:
                found = self.load.index(min(self.load))
            self.home[key] = found
        return found

    def packet(self, link: int, data: memoryview, record: memoryview) -> None:
        self.put(self.shard(connection_key(link, data)), record)

    def put(self, shard: int, record: bytes | memoryview) -> None:
        self.count += 1
        self.writers[shard].write(record)
        self.frames[shard].append(self.count)
        self.load[shard] += len(record)


def _pcap(source: BinaryIO, magic: bytes, split: _Splitter) -> None:
    header = magic + source.read(20)
    if len(header) < 24:
        raise Unshardable("pcap header cut short")
    order = PCAP_MAGICS[magic][0]
    link = struct.unpack(order + "I", header[20:24])[0] & 0x0FFFFFFF
    split.shared(header)
    caplen = struct.Struct(order + "8xI").unpack_from
    home, shard_of, put = split.home, split.shard, split.put
    buf = b""
    while chunk := source.read(READ_BYTES):
        buf = buf + chunk if buf else chunk
        at, end = 0, len(buf)
        while end - at >= 16:
            stop = at + 16 + caplen(buf, at)[0]
            if stop > end:
                break
            key = _fast_key(buf, at + 16, stop, link)
            shard = home.get(key) if key is not None else 0
            put(shard_of(key) if shard is None else shard, buf[at:stop])
            at = stop
        buf = buf[at:]
    if buf:
        raise Unshardable("the last pcap record is cut short")


def _fast_key(buf: bytes, p: int, stop: int, link: int) -> bytes | None:
    """Ethernet, IPv4 without options, unfragmented TCP, read with two slices; anything
    else through `connection_key`."""
    if (
        link == ETHERNET
        and buf[p + 12 : p + 15] == b"\x08\x00\x45"
        and buf[p + 23] == TCP
        and not (buf[p + 20] & 0x3F or buf[p + 21])
        and stop >= p + 38
    ):
        return buf[p + 26 : p + 38]
    return connection_key(link, memoryview(buf)[p:stop])


def _pcapng(source: BinaryIO, first: bytes, split: _Splitter) -> None:
    buf = first
    order = "<"
    links: list[int] = []
    while True:
        chunk = source.read(READ_BYTES)
        buf = buf + chunk if buf else chunk
        view = memoryview(buf)
        at, end = 0, len(buf)
        while end - at >= 12:
            if struct.unpack_from("<I", buf, at)[0] == SHB:
                order = "<" if buf[at + 8 : at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                links = []
            kind, size = struct.unpack_from(order + "II", buf, at)
            if size < 12 or size % 4:
                raise Unshardable(f"pcapng block of {size} bytes")
            if at + size > end:
                break
            _block(kind, order, view[at : at + size], links, split)
            at += size
        buf = buf[at:]
        if not chunk:
            break
    if buf:
        raise Unshardable("the last pcapng block is cut short")


def _block(kind: int, order: str, block: memoryview, links: list[int], split: _Splitter) -> None:
    if kind == IDB:
        links.append(struct.unpack_from(order + "H", block, 8)[0])
    if kind in SHARED_BLOCKS:
        split.shared(block)
    elif kind == EPB:
        iface, caplen = struct.unpack_from(order + "I8xI", block, 8)
        split.packet(_link(links, iface), block[28 : 28 + caplen], block)
    elif kind == SPB:
        split.packet(_link(links, 0), block[12 : block.nbytes - 4], block)
    elif kind == PB:
        iface, caplen = struct.unpack_from(order + "H10xI", block, 8)
        split.packet(_link(links, iface), block[28 : 28 + caplen], block)
    else:
        raise Unshardable(f"pcapng block type {kind:#x}")


def _link(links: list[int], iface: int) -> int:
    if iface >= len(links):
        raise Unshardable(f"packet on undeclared interface {iface}")
    return links[iface]
