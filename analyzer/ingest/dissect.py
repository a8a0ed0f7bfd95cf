"""One tshark dissection of one file (a whole capture or one shard of it) -> typed rows.

This is the unit of work that runs in parallel: locally in a thread per file or shard,
on a cluster as a Dask task (analyzer/ingest/executor.py). It takes and returns plain
data (paths, polars tables), so it runs the same wherever it runs. The first pass reads
every TCP packet; two targeted passes follow only when the first finds a reason:
streams that began before the capture on a port another dissector owns, and the
payloads of small binary frames.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import polars as pl

from analyzer.ingest import tshark, tshark_argv, tshark_run
from analyzer.ingest.frames import explode_frames, small_binary_packets
from analyzer.ingest.packets import (
    attach_payloads,
    merge_spans,
    normalise,
    payload_rows,
    stream_spans,
    worth_a_row,
)


@dataclass(frozen=True)
class Dissection:
    """What to dissect: a file, its key log, the tshark to run, the capture's input index."""

    path: Path
    keylog: Path | None
    binary: tshark.Tshark
    index: int
    # A shard gets the first pass only: the passes after it read the whole file once the
    # shards are put back (`complete`), as a shard may be a pipe that cannot be read twice.
    shard: bool = False


@dataclass
class Dissected:
    packets: pl.DataFrame  # the rows later stages read (packets.worth_a_row)
    # (input, stream) -> first/last frame and time over every packet, pure ACKs included.
    spans: pl.DataFrame
    # The packets' WebSocket frames and the packets whose frames do not zip
    # (frames.explode_frames), taken block by block while tshark still runs.
    frames: pl.DataFrame
    misaligned: pl.DataFrame
    timeless: int  # packets left out for a time outside 1677-2262
    returncode: int
    messages: list[str] = field(default_factory=list)  # tshark's stderr
    socks: bool = False  # SOCKS seen: tshark numbered a stream no packet shows


def dissect(
    job: Dissection,
    on_progress: Callable[[int, int], None] | None = None,
    whole: PayloadPass | None = None,
) -> Dissected:
    """`whole`: for a shard dissected here, the whole file's payload pass, to start at the
    shard's first small binary frame (a cluster's shard has none: it runs after the merge)."""
    binary = _here(job.binary)
    argv = tshark_argv.fields_command(job.path, job.keylog, binary)
    with ThreadPoolExecutor(max_workers=1) as beside:
        payloads = whole if job.shard else PayloadPass(job, beside)
        each = partial(_block, job.index, payloads)
        blocks, run = tshark_run.stream_packets(argv, each, on_progress)
        if not blocks:
            blocks = [_block(job.index, None, tshark_run.empty_packets(list(tshark_argv.FIELDS)))]
        rows, spans, frames, misaligned, timeless, socks = zip(*blocks, strict=True)
        first = Dissected(
            pl.concat(rows),
            merge_spans(pl.concat(spans)),
            pl.concat(frames),
            pl.concat(misaligned),
            sum(timeless),
            run.returncode,
            run.stderr_lines,
            any(socks),
        )
        return first if job.shard else complete(first, job, payloads)


def complete(first: Dissected, job: Dissection, beside: PayloadPass | None = None) -> Dissected:
    """The passes after the first, over the whole file: streams to re-read as WebSocket,
    then the payloads of small binary frames (from the pass `beside` the first, if any)."""
    binary = _here(job.binary)
    packets, recovered = _recover_streams(first.packets, job, binary)
    packets = _binary_payloads(packets, job, binary, recovered, beside)
    return _reframed(first, packets, recovered)


def _reframed(
    first: Dissected, packets: pl.DataFrame, recovered: dict[int, list[int]]
) -> Dissected:
    """`packets` with their frames: the first pass's, but for the packets the later passes
    changed (a re-read stream, whose packets the first pass left undecoded; an attached
    payload, which gives a frame its JSON type) exploded again from their new rows."""
    changed = pl.col("stream").is_in(list(recovered)) | pl.col("ws_binary").is_not_null()
    again = packets.filter(changed)
    if again.height == 0:
        return dataclasses.replace(first, packets=packets)
    frames, misaligned = explode_frames(again)
    kept = ~pl.col("frame_no").is_in(again["frame_no"].implode())
    return dataclasses.replace(
        first,
        packets=packets,
        frames=_in_order(first.frames.filter(kept), frames),
        misaligned=_in_order(first.misaligned.filter(kept), misaligned),
    )


def _in_order(*tables: pl.DataFrame) -> pl.DataFrame:
    """Frames in packet order; the frames of one packet keep tshark's (wire) order."""
    return pl.concat(tables).sort("frame_no", maintain_order=True)


def _block(
    index: int, payloads: PayloadPass | None, raw: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, int, bool]:
    """One block of tshark's rows, as soon as it is parsed: typed, its connections' spans
    taken, pure ACKs dropped, its WebSocket frames exploded, so the run never holds every
    packet's row at once and little is left to do when tshark ends; the payload pass
    starts at the first block with a small binary frame."""
    every, timeless = timed(normalise(raw, index))
    socks = raw["socks"].is_not_null().any()
    rows = worth_a_row(every)
    if payloads:
        payloads.start_if_needed(rows)
    frames, misaligned = explode_frames(rows)
    return rows, stream_spans(every), frames, misaligned, timeless, socks


class PayloadPass:
    """The payloads of small binary frames, read by a second tshark *beside* the first:
    started by the first block that shows such a frame, it asks for every packet carrying
    one (by display filter), so it never waits for the first pass to end. `job` is the
    file it reads: the whole capture, also when the blocks come from its shards."""

    def __init__(self, job: Dissection, pool: ThreadPoolExecutor) -> None:
        self.job, self.binary, self.pool = job, _here(job.binary), pool
        self.lock = threading.Lock()
        self.running: Future[pl.DataFrame] | None = None

    def start_if_needed(self, rows: pl.DataFrame) -> None:
        if self.running is None and small_binary_packets(rows).height:
            with self.lock:  # the blocks of several shards may see one at once
                if self.running is None:
                    self.running = self.pool.submit(_payloads, self.job, self.binary, None, None)

    def rows(self) -> pl.DataFrame:
        assert self.running is not None, "a small binary frame was seen, so the pass runs"
        return self.running.result()


def _here(binary: tshark.Tshark) -> tshark.Tshark:
    """The client's tshark, or this machine's own when a cluster worker has it elsewhere."""
    return binary if os.path.exists(binary.path) else tshark.find_tshark()


def timed(packets: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The packets with a usable time, and how many had none: every stage after this one
    orders and measures by time, and a wrapped date would invent silences."""
    kept = packets.filter(pl.col("ts").is_not_null())
    return kept, packets.height - kept.height


def _recover_streams(
    packets: pl.DataFrame, job: Dissection, binary: tshark.Tshark
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
    argv = tshark_argv.fields_command(job.path, job.keylog, binary, recover=candidates)
    again, _ = tshark_run.read_packets(argv)
    kept = packets.filter(~pl.col("stream").is_in(list(candidates)))
    again = worth_a_row(timed(normalise(again, job.index))[0])
    return pl.concat([kept, again]).sort("frame_no"), candidates


def _binary_payloads(
    packets: pl.DataFrame,
    job: Dissection,
    binary: tshark.Tshark,
    recovered: dict[int, list[int]],
    beside: PayloadPass | None,
) -> pl.DataFrame:
    """Attach the payloads of small binary frames: JSON sent with the wrong opcode.

    Some SDKs send `{"type": "KeepAlive"}` as a binary frame, which Deepgram takes for
    audio. The first pass does not print binary payloads (audio would double its output),
    so packets carrying a 2-125 byte binary message are read by a payload pass: the one
    run beside the first pass when there was one, else one run now; a capture without
    such frames (plain audio streaming) never pays for it. Re-read streams need their
    Decode As, which would mis-dissect the other streams on those ports, so they get a
    run of their own, by frame number.
    """
    small = small_binary_packets(packets)
    if small.height == 0:
        return packets
    in_recovered = pl.col("stream").is_in(list(recovered))
    parts = []
    if small.filter(~in_recovered).height:
        parts.append(beside.rows() if beside else _payloads(job, binary, None, None))
    if (again := small.filter(in_recovered)).height:
        parts.append(_payloads(job, binary, again["frame_no"].to_list(), recovered))
    return attach_payloads(packets, pl.concat(parts))


def _payloads(
    job: Dissection,
    binary: tshark.Tshark,
    frames: list[int] | None,
    recover: dict[int, list[int]] | None,
) -> pl.DataFrame:
    argv = tshark_argv.payload_command(job.path, frames, job.keylog, binary, recover)
    raw, _ = tshark_run.read_packets(argv, columns=list(tshark_argv.PAYLOAD_FIELDS))
    return payload_rows(raw)


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
