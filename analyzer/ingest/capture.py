"""One capture file -> typed packet table, capture facts and warnings.

A damaged capture still yields every packet tshark could read; what was lost becomes a
warning. Only a file from which nothing at all can be read is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analyzer.errors import InputError
from analyzer.ingest import tshark
from analyzer.ingest.packets import normalise
from analyzer.ingest.sniff import CaptureFile, sniff_capture

# tshark's own words for a file it could only partly read -> what we tell the user.
DAMAGE = {
    "cut short in the middle of a packet": "the capture is truncated: its last packet is "
    "incomplete",
    "appears to be damaged or corrupt": "the capture is damaged: tshark stopped reading "
    "at the damage",
    "less data was read than was expected": "the capture ends early (less data than its "
    "headers promise)",
    "decompression error": "the gzip stream is damaged: reading stopped there",
    "uncompression error": "the gzip stream is damaged: reading stopped there",
}
NOISE = ("Running as user", "This could be dangerous")


@dataclass
class CaptureData:
    file: CaptureFile
    packets: pl.DataFrame
    facts: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def load_capture(
    path: Path,
    index: int,
    keylog: Path | None,
    binary: tshark.Tshark,
    on_progress: Callable[[int, int], None] | None = None,
) -> CaptureData:
    info = sniff_capture(path)
    counting = tshark.start_packet_count(binary, path)
    raw, run = tshark.read_packets(tshark.fields_command(path, keylog, binary), on_progress)
    total = tshark.finish_packet_count(counting)
    messages = [ln for ln in run.stderr_lines if ln and not ln.startswith(NOISE)]
    damage = _damage(messages)
    if run.returncode != 0 and raw.height == 0 and not damage:
        detail = messages[-1] if messages else f"tshark exited with {run.returncode}"
        raise InputError(f"tshark could not read it: {detail}", source=str(path))
    packets = normalise(raw, index)
    read = total if total is not None else packets.height
    warnings = [f"{path}: {d} (kept the {read} packets read before it)" for d in damage]
    facts = _facts(info, packets, bool(damage)) | {"packets": total}
    return CaptureData(info, packets, facts, warnings)


def _damage(messages: list[str]) -> list[str]:
    found = []
    for line in messages:
        for needle, meaning in DAMAGE.items():
            if needle in line.lower() and meaning not in found:
                found.append(meaning)
    return found


def _facts(info: CaptureFile, packets: pl.DataFrame, damaged: bool) -> dict[str, Any]:
    stats = packets.select(
        pl.len().alias("packets_examined"),
        pl.col("ts").min().alias("start"),
        pl.col("ts").max().alias("end"),
        (pl.col("cap_len") < pl.col("frame_len")).sum().alias("truncated_packets"),
        pl.col("lost_segment").sum().alias("lost_segments"),
        pl.col("retransmission").sum().alias("retransmissions"),
        pl.col("stream").n_unique().alias("tcp_connections"),
    ).row(0, named=True)
    return {
        "path": str(info.path),
        "format": info.format,
        "gzip": info.compressed,
        "size_bytes": info.size,
        "link_types": info.link_types,
        "snaplen": info.snaplen,
        "damaged": damaged,
        **stats,
    }
