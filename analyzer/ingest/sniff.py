"""Decide what an input file is from its first bytes, before any tool touches it.

A wrong file must fail here with one precise line ("gzip stream is corrupt", "this is a
text file, not a capture") rather than as whatever tshark happens to print.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from analyzer.errors import InputError
from analyzer.ingest.capture_magic import (
    GZIP_MAGIC,
    PCAP_MAGICS,
    PCAPNG_MAGIC,
    opens_like_capture,
)
from analyzer.ingest.har import looks_like_har

HEAD_BYTES = 1 << 16
# Decompression bomb limits (see `_check_expansion`).
GUNZIP_RATIO = 100
GUNZIP_FLOOR = 64 << 20
OTHER_COMPRESSION = {
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
    b"PK\x03\x04": "zip",
}
# tcpdump LINKTYPE_* values a support engineer is likely to meet.
LINK_TYPES = {
    0: "null/loopback",
    1: "ethernet",
    101: "raw-ip",
    113: "linux-sll",
    276: "linux-sll2",
    228: "ipv4",
    229: "ipv6",
    12: "raw-ip",
    9: "ppp",
    105: "ieee802.11",
    127: "ieee802.11-radiotap",
    220: "usb",
}

_HEADING = re.compile(r"#{1,6} \S")


@dataclass
class CaptureFile:
    path: Path
    format: str  # pcap | pcapng
    compressed: bool
    size: int
    link_types: list[str] = field(default_factory=list)
    snaplen: int | None = None


def read_head(path: Path) -> bytes:
    """The first HEAD_BYTES of a readable, non-empty file: what each input kind's `sniff`
    is shown (analyzer/ingest/kinds.py)."""
    _check_file(path)
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


def looks_like_capture(head: bytes) -> bool:
    """A pcap or pcapng magic, or any compression: a compressed file is a capture candidate
    so that `sniff_capture` can name the problem ("zstd-compressed file")."""
    return opens_like_capture(head) or head.startswith(tuple(OTHER_COMPRESSION))


def looks_like_text(head: bytes) -> bool:
    """No control bytes but tabs and line ends in the first 4 KiB (UTF-8 passes)."""
    sample = head[:4096]
    return bool(sample) and all(b in b"\t\n\r\f" or 32 <= b < 127 or b >= 128 for b in sample)


def markdown_document(head: bytes) -> str | None:
    """Why a text file is a Markdown document rather than a log, or None.

    A README or a ticket comment can quote whole timestamped log lines, so pack matches
    alone would take it for a log; headings and paired code fences are what a log never
    has at the start of its lines. Only asked of files whose kind was guessed: `--log`
    still reads such a file.
    """
    lines = head.decode("utf-8", "replace").splitlines()
    headings = sum(1 for line in lines if _HEADING.match(line))
    fences = sum(1 for line in lines if line.startswith(("```", "~~~")))
    if headings and fences >= 2:
        return f"a Markdown document ({headings} heading(s), {fences // 2} code block(s))"
    return None


def sniff_capture(path: Path) -> CaptureFile:
    """Validate that `path` is a readable pcap/pcapng (optionally gzip'd) capture."""
    size = _check_file(path)
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    compressed = head.startswith(GZIP_MAGIC)
    if compressed:
        head = _gunzip_head(path, head)
        _check_expansion(path, size)
    for magic, name in OTHER_COMPRESSION.items():
        if head.startswith(magic):
            raise InputError(f"{name}-compressed file; decompress it first", source=str(path))
    if head[:4] in PCAP_MAGICS:
        return _pcap(path, head, compressed, size)
    if head.startswith(PCAPNG_MAGIC):
        return _pcapng(path, head, compressed, size)
    raise InputError(_describe_unknown(head), source=str(path))


def _check_file(path: Path) -> int:
    if not path.exists():
        raise InputError("no such file", source=str(path))
    if path.is_dir():
        raise InputError("is a directory, not a capture file", source=str(path))
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(path)) from None
    if size == 0:
        raise InputError("empty file", source=str(path))
    return size


def _gunzip_head(path: Path, raw: bytes) -> bytes:
    """The first decompressed bytes, enough to tell the format.

    Fed in small steps so that damage further on (a wrong CRC in the trailer of a small
    file, a corrupt block) keeps what came before it: tshark reads those packets, and
    `capture.load_capture` warns about the rest. Only a stream with no readable start is
    an error here.
    """
    unpack, head = zlib.decompressobj(wbits=31), b""
    try:
        for start in range(0, len(raw), 1024):
            head += unpack.decompress(raw[start : start + 1024], HEAD_BYTES - len(head))
            if len(head) >= HEAD_BYTES or unpack.eof:
                break
    except zlib.error as exc:
        if not head:
            raise InputError(f"gzip stream is corrupt ({exc})", source=str(path)) from None
    return head


def _check_expansion(path: Path, size: int) -> None:
    """Refuse a gzip that inflates past GUNZIP_RATIO times its size (and GUNZIP_FLOOR).

    tshark has no limit: a pcap header and 10 GiB of zeros (47 MB gzipped) is 671 million
    empty records that it reads for many minutes. Real captures compress 2-15x (the
    samples at most 14x), so 100x is far outside them; the floor spares small files. An
    error, not a partial read: nothing in such a file is worth a report, and tshark
    cannot be told to stop at an offset. Decompression runs at several hundred MB/s, so a
    genuine gzip capture pays well under a second per 100 MB, a bomb is stopped within
    seconds. Damage only ends the count: tshark reads up to it and it becomes a warning.
    """
    limit = max(GUNZIP_FLOOR, GUNZIP_RATIO * size)
    expanded = 0
    with path.open("rb") as fh:
        for produced in _inflated_sizes(fh):
            expanded += produced
            if expanded > limit:
                raise InputError(
                    f"gzip expands more than {GUNZIP_RATIO}x (past {limit / 1e6:,.0f} MB from "
                    f"{size / 1e6:,.1f} MB): refused as a likely decompression bomb; if it is a "
                    "real capture, gunzip it and analyze the result",
                    source=str(path),
                )


def _inflated_sizes(fh: BinaryIO) -> Iterator[int]:
    """Sizes of successive bounded pieces of the decompressed stream (all gzip members).

    `max_length` keeps every piece small: a 1 MB read of a bomb would otherwise inflate to
    a gigabyte in one call.
    """
    unpack = zlib.decompressobj(wbits=31)
    pending = b""
    try:
        while block := pending or fh.read(1 << 20):
            out = unpack.decompress(block, 1 << 22)
            pending = unpack.unconsumed_tail
            while len(out) == 1 << 22 and not pending:  # output still held inside zlib
                yield len(out)
                out = unpack.decompress(b"", 1 << 22)
            yield len(out)
            if unpack.eof:  # another member may follow (cat a.gz b.gz)
                pending, unpack = unpack.unused_data, zlib.decompressobj(wbits=31)
    except zlib.error:
        return


def _pcap(path: Path, head: bytes, compressed: bool, size: int) -> CaptureFile:
    if len(head) < 24:
        raise InputError("pcap header is truncated (file shorter than 24 bytes)", source=str(path))
    order, _ = PCAP_MAGICS[head[:4]]
    snaplen, linktype = struct.unpack(order + "II", head[16:24])
    return CaptureFile(path, "pcap", compressed, size, [_link_name(linktype & 0xFFFF)], snaplen)


def _pcapng(path: Path, head: bytes, compressed: bool, size: int) -> CaptureFile:
    if len(head) < 12:
        raise InputError("pcapng section header is truncated", source=str(path))
    order = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    links, snaplens, offset = [], [], 0
    while offset + 12 <= len(head):
        block_type, block_len = struct.unpack(order + "II", head[offset : offset + 8])
        if block_len < 12:
            break
        if block_type == 1 and offset + 16 <= len(head):
            linktype, _, snaplen = struct.unpack(order + "HHI", head[offset + 8 : offset + 16])
            links.append(_link_name(linktype))
            snaplens.append(snaplen)
        offset += block_len
    return CaptureFile(
        path, "pcapng", compressed, size, sorted(set(links)), min(snaplens) if snaplens else None
    )


def _link_name(linktype: int) -> str:
    return LINK_TYPES.get(linktype, f"linktype-{linktype}")


def _describe_unknown(head: bytes) -> str:
    if looks_like_text(head):
        if looks_like_har(head):
            return "this is a HAR file, not a packet capture (`wsdoctor analyze` reads HAR)"
        return (
            "this is a text file, not a packet capture (expected pcap or pcapng; "
            "`wsdoctor analyze` reads logs)"
        )
    return "not a packet capture: unknown format (expected pcap or pcapng, optionally gzip'd)"
