"""Decide what an input file is from its first bytes, before any tool touches it.

A wrong file must fail here with one precise line ("gzip stream is corrupt", "this is a
text file, not a capture") rather than as whatever tshark happens to print.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.errors import InputError
from analyzer.ingest.har import looks_like_har

HEAD_BYTES = 1 << 16
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", "us"),
    b"\xa1\xb2\xc3\xd4": (">", "us"),
    b"\x4d\x3c\xb2\xa1": ("<", "ns"),
    b"\xa1\xb2\x3c\x4d": (">", "ns"),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
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


@dataclass
class CaptureFile:
    path: Path
    format: str  # pcap | pcapng
    compressed: bool
    size: int
    link_types: list[str] = field(default_factory=list)
    snaplen: int | None = None


def input_kind(path: Path) -> str:
    """ "capture" | "har" | "log", from the first bytes (never the extension).

    Anything compressed is a capture candidate so `sniff_capture` can name the problem
    ("zstd-compressed file"); text that is not a HAR is a log, whatever its name. Unknown
    binary content is an InputError here: neither tshark nor the log reader could use it.
    """
    _check_file(path)
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    magics = (GZIP_MAGIC, PCAPNG_MAGIC, *PCAP_MAGICS, *OTHER_COMPRESSION)
    if head.startswith(magics):
        return "capture"
    if looks_like_har(head):
        return "har"
    if _text_like(head):
        return "log"
    raise InputError(
        "not a packet capture, HAR or text log: unknown binary format "
        "(expected pcap or pcapng, optionally gzip'd)",
        source=str(path),
    )


def sniff_capture(path: Path) -> CaptureFile:
    """Validate that `path` is a readable pcap/pcapng (optionally gzip'd) capture."""
    size = _check_file(path)
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    compressed = head.startswith(GZIP_MAGIC)
    if compressed:
        head = _gunzip_head(path, head)
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
    try:
        return zlib.decompressobj(wbits=31).decompress(raw, HEAD_BYTES)
    except zlib.error as exc:
        raise InputError(f"gzip stream is corrupt ({exc})", source=str(path)) from None


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


def _text_like(head: bytes) -> bool:
    sample = head[:4096]
    return bool(sample) and all(b in b"\t\n\r\f" or 32 <= b < 127 or b >= 128 for b in sample)


def _describe_unknown(head: bytes) -> str:
    if _text_like(head):
        if looks_like_har(head):
            return "this is a HAR file, not a packet capture (`wsdoctor analyze` reads HAR)"
        return (
            "this is a text file, not a packet capture (expected pcap or pcapng; "
            "`wsdoctor analyze` reads logs)"
        )
    return "not a packet capture: unknown format (expected pcap or pcapng, optionally gzip'd)"
