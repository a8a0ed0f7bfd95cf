"""One capture file -> typed packet table, capture facts and warnings.

A damaged capture still yields every packet tshark could read; what was lost becomes a
warning. Only a file from which nothing at all can be read is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analyzer.errors import InputError
from analyzer.ingest import tshark, tshark_argv, tshark_run
from analyzer.ingest.frames import small_binary_packets
from analyzer.ingest.packets import (
    attach_payloads,
    normalise,
    payload_rows,
    stream_spans,
    worth_a_row,
)
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
    # tshark >= 3.6 on damaged gzip; the next line says why, e.g. "(bad CRC)".
    "cannot be decompressed": "the gzip stream is damaged{why}: any packets after the "
    "damage are lost",
}
NOISE = ("Running as user", "This could be dangerous")


@dataclass
class CaptureData:
    file: CaptureFile
    packets: pl.DataFrame
    facts: dict[str, Any]
    # (input, stream) -> first/last frame and time over every packet, pure ACKs included.
    spans: pl.DataFrame
    warnings: list[str] = field(default_factory=list)


def load_capture(
    path: Path,
    index: int,
    keylog: Path | None,
    binary: tshark.Tshark,
    on_progress: Callable[[int, int], None] | None = None,
) -> CaptureData:
    info = sniff_capture(path)
    counting = tshark_run.start_census(binary, path)
    argv = tshark_argv.fields_command(path, keylog, binary)
    raw, run = tshark_run.read_packets(argv, on_progress)
    census = tshark_run.finish_census(counting)
    if on_progress and census.packets is not None:  # the packets after the last TCP one too
        on_progress(census.packets, path.stat().st_size)
    messages = [ln for ln in run.stderr_lines if ln and not ln.startswith(NOISE)]
    damage = _damage(messages)
    if run.returncode != 0 and raw.height == 0 and not damage:
        detail = messages[-1] if messages else f"tshark exited with {run.returncode}"
        raise InputError(f"tshark could not read it: {detail}", source=str(path))
    if run.returncode != 0 and not damage:
        detail = messages[-1] if messages else f"exited with {run.returncode}"
        damage = [f"tshark stopped early ({detail})"]
    every, timeless = _timed(normalise(raw, index))
    spans = stream_spans(every)
    packets, recovered = _recover_streams(worth_a_row(every), path, index, keylog, binary)
    packets = _binary_payloads(packets, path, keylog, binary, recovered)
    read = census.packets if census.packets is not None else _packets_seen(packets)
    warnings = [f"{path}: {d} (kept the {read} packets read before it)" for d in damage]
    if timeless:
        warnings.append(
            f"{path}: {timeless} packet(s) stamped outside the years 1677-2262 were left out "
            "(a corrupt timestamp; every time in the capture is suspect)"
        )
    facts = _facts(info, packets, bool(damage)) | {"packets": read}
    if not timeless:  # a corrupt timestamp anywhere would be capinfos' first or last
        facts |= _census_times(census, facts)
    if facts["truncated_packets"]:
        warnings.append(_snaplen_warning(path, packets, facts))
    return CaptureData(info, packets, facts, spans, warnings)


def _timed(packets: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The packets with a usable time, and how many had none: every stage after this one
    orders and measures by time, and a wrapped date would invent silences."""
    kept = packets.filter(pl.col("ts").is_not_null())
    return kept, packets.height - kept.height


def _census_times(census: tshark_run.Census, facts: dict[str, Any]) -> dict[str, Any]:
    """Capture start/end from every packet (capinfos), not only those the engine kept: a
    capture that opens with a DNS query or ends with pure ACKs spans them too."""
    out = {}
    for key, ns, pick in (("start", census.first_ns, min), ("end", census.last_ns, max)):
        if ns is not None:
            seen = _EPOCH + timedelta(microseconds=ns // 1000)
            out[key] = seen if facts[key] is None else pick(seen, facts[key])
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _packets_seen(packets: pl.DataFrame) -> int:
    """A lower bound on the packets read when capinfos could not count them: the number
    of the last packet tshark printed (pure ACKs are filtered out, never renumbered)."""
    return int(packets["frame_no"].max() or 0)


def _snaplen_warning(path: Path, packets: pl.DataFrame, facts: dict[str, Any]) -> str:
    """Cut packets hide frames: absence of a close frame proves nothing in such a capture."""
    kept = packets.filter(pl.col("cap_len") < pl.col("frame_len"))["cap_len"].max()
    return (
        f"{path}: {facts['truncated_packets']} packet(s) were cut short by the capture's "
        f"snapshot length (at most {kept} bytes kept): frames in them are missing, so missing "
        "frames prove nothing; capture again with `tcpdump -s 0`"
    )


def _recover_streams(
    packets: pl.DataFrame, path: Path, index: int, keylog: Path | None, binary: tshark.Tshark
) -> tuple[pl.DataFrame, dict[int, list[int]]]:
    """Re-read, as WebSocket, streams that began before the capture and decoded as nothing.

    A WebSocket connection that starts inside the capture shows its HTTP upgrade; one that
    started earlier shows bare frames, which tshark leaves undecoded when the port belongs
    to another dissector (8080 is HTTP's). Only such streams are re-read, so a normal
    capture never pays for a second pass; `sessions.plausible_recovered` later drops any
    that turn out not to be WebSocket. Returns the re-read streams with their ports.
    """
    candidates = _undecoded_without_syn(packets)
    if not candidates:
        return packets, {}
    argv = tshark_argv.fields_command(path, keylog, binary, recover=candidates)
    again, _ = tshark_run.read_packets(argv)
    kept = packets.filter(~pl.col("stream").is_in(list(candidates)))
    again = worth_a_row(_timed(normalise(again, index))[0])
    return pl.concat([kept, again]).sort("frame_no"), candidates


def _binary_payloads(
    packets: pl.DataFrame,
    path: Path,
    keylog: Path | None,
    binary: tshark.Tshark,
    recovered: dict[int, list[int]],
) -> pl.DataFrame:
    """Read the payloads of small binary frames: JSON sent with the wrong opcode.

    Some SDKs send `{"type": "KeepAlive"}` as a binary frame, which Deepgram takes for
    audio. The first pass does not print binary payloads (audio would double its output),
    so packets carrying a 2-125 byte binary message are re-read here, by frame number; a
    capture without such frames (plain audio streaming) never pays for it. Re-read streams
    need their Decode As, which would mis-dissect the other streams on those ports, so
    they get a run of their own.
    """
    small = small_binary_packets(packets)
    if small.height == 0:
        return packets
    parts = []
    in_recovered = pl.col("stream").is_in(list(recovered))
    for frames, recover in (
        (small.filter(~in_recovered), None),
        (small.filter(in_recovered), recovered),
    ):
        if frames.height:
            argv = tshark_argv.payload_command(
                path, frames["frame_no"].to_list(), keylog, binary, recover
            )
            raw, _ = tshark_run.read_packets(argv, columns=list(tshark_argv.PAYLOAD_FIELDS))
            parts.append(payload_rows(raw))
    return attach_payloads(packets, pl.concat(parts))


def _undecoded_without_syn(packets: pl.DataFrame) -> dict[int, list[int]]:
    decoded = (
        pl.col("http_method").is_not_null()
        | pl.col("http_status").is_not_null()
        | pl.col("ws_opcode").is_not_null()
        | pl.col("tls")
        | pl.col("syn")
    )
    streams = (
        packets.filter(pl.col("stream").is_not_null())
        .group_by("stream")
        .agg(
            (pl.col("tcp_len") > 0).any().alias("payload"),
            decoded.any().alias("decoded"),
            pl.col("sport").first(),
            pl.col("dport").first(),
        )
        .filter(pl.col("payload") & ~pl.col("decoded"))
    )
    return {row[0]: [row[1], row[2]] for row in streams.select("stream", "sport", "dport").rows()}


def _damage(messages: list[str]) -> list[str]:
    """What tshark's stderr says was lost, in our words; `{why}` takes the next line when
    it is tshark's parenthesised reason."""
    found = []
    for i, line in enumerate(messages):
        after = messages[i + 1] if i + 1 < len(messages) else ""
        why = f" {after}" if after.startswith("(") and after.endswith(")") else ""
        for needle, meaning in DAMAGE.items():
            text = meaning.format(why=why)
            if needle in line.lower() and text not in found:
                found.append(text)
    return found


def _facts(info: CaptureFile, packets: pl.DataFrame, damaged: bool) -> dict[str, Any]:
    stats = packets.select(
        pl.len().alias("packets_examined"),
        pl.col("ts").min().alias("start"),
        pl.col("ts").max().alias("end"),
        (pl.col("cap_len") < pl.col("frame_len")).sum().alias("truncated_packets"),
        pl.col("lost_segment").sum().alias("lost_segments"),
        pl.col("retransmission").sum().alias("retransmissions"),
        pl.col("stream").drop_nulls().n_unique().alias("tcp_connections"),
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
