"""The first bytes of a capture file: pcap (by byte order and time unit), pcapng, gzip.

Kept apart from sniff.py (which reads HAR too, and so imports polars) for the guess of
ingest/prestart.py, made before the engine is imported.
"""

from __future__ import annotations

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", "us"),
    b"\xa1\xb2\xc3\xd4": (">", "us"),
    b"\x4d\x3c\xb2\xa1": ("<", "ns"),
    b"\xa1\xb2\x3c\x4d": (">", "ns"),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"


def opens_like_capture(head: bytes) -> bool:
    """A pcap, pcapng or gzip opening (a gzip may hold anything: sniff.py looks inside)."""
    return head.startswith((GZIP_MAGIC, PCAPNG_MAGIC, *PCAP_MAGICS))
