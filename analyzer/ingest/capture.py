"""Capture files -> typed packet tables, capture facts and warnings.

Every capture is dissected at once, each big one cut by TCP connection into shards that
tsharks dissect side by side (ingest/shards.py, sharding.py), on threads here or on a
Dask cluster (ingest/executor.py); a capture that cannot be cut with certainty is read
whole, as a small one is. A damaged capture still yields every packet tshark could read;
what was lost becomes a warning. Only a file from which nothing at all can be read is an
error.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import threading
from array import array
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analyzer.errors import InputError
from analyzer.ingest import (
    executor,
    shard_pipes,
    shard_plan,
    sharding,
    shards,
    tshark,
    tshark_run,
)
from analyzer.ingest.dissect import Dissected, Dissection, PayloadPass, complete, dissect
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
    frames: pl.DataFrame  # the packets' WebSocket frames (frames.explode_frames)
    misaligned: pl.DataFrame  # packets whose frame header fields do not zip
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Parallel:
    """How captures are dissected: `jobs` tsharks at a time (None: one per core, for
    captures worth cutting), on the Dask cluster at `scheduler` if one is named, shards
    written under `work_dir` (a folder the cluster's workers see)."""

    jobs: int | None = None
    scheduler: str | None = None
    work_dir: Path | None = None

    @property
    def local(self) -> bool:
        """The tasks run in this process's threads, not on a cluster."""
        return self.scheduler is None


@dataclass
class _Started:
    """A capture whose dissection is under way: its tasks, and how to put shards back."""

    info: CaptureFile
    census: subprocess.Popen[str] | None
    tasks: list[Future[Dissected]]
    frames: list[array] | None  # per shard, the original frame numbers; None: one piece
    folder: Path | None  # the shards' files, removed once dissected
    progress: Callable[[Path, int, int], None] | None
    job: Dissection  # the whole file's, should the shards not go back together
    # The whole file's payload pass, started by the first shard block that needs it (local
    # shards only: a cluster's shards run it after the merge).
    beside: PayloadPass | None = None


def load_captures(
    paths: list[Path],
    first: int,
    keylog: Path | None,
    binary: tshark.Tshark,
    parallel: Parallel,
    progress: Callable[[Path, int, int], None] | None = None,
) -> list[CaptureData]:
    """Every capture, in order; all of them (and the shards of big ones) are dissected
    concurrently. `first` is the input index of the first."""
    files = [sniff_capture(p) for p in paths]  # a wrong file fails before any tshark runs
    with executor.executor(parallel.jobs, parallel.scheduler) as pool:
        started = []
        for i, info in enumerate(files):
            # Pipes need a free thread for each reader: only the first capture has them.
            streams = parallel.local and not started
            tell = progress if parallel.local else None
            started.append(
                _start(info, Dissection(info.path, keylog, binary, first + i), pool, parallel,
                       tell, streams)
            )  # fmt: skip
        try:
            return [_finish(s) for s in started]
        finally:
            for s in started:
                if s.folder:
                    shutil.rmtree(s.folder, ignore_errors=True)
                if s.beside:
                    s.beside.pool.shutdown()


def _start(
    info: CaptureFile,
    job: Dissection,
    pool: Executor,
    parallel: Parallel,
    progress: Callable[[Path, int, int], None] | None,
    streams: bool,
) -> _Started:
    """Start dissecting one capture: whole, or cut into shards as `shard_count` says, the
    first `jobs` of them pipes read while the cut goes on when `streams`."""
    census = tshark_run.start_census(job.binary, info.path)
    cores = executor.cores()
    count = shard_plan.shard_count(info.size, parallel.jobs, cores)
    if count == 1:
        return _whole(info, job, pool, census, progress)
    folder = Path(tempfile.mkdtemp(prefix="wsdoctor-shards-", dir=parallel.work_dir))
    paths = [folder / f"{i}.pcap" for i in range(count)]
    tell = _Progress(info.path, count, progress) if progress else None

    beside = PayloadPass(job, ThreadPoolExecutor(max_workers=1)) if parallel.local else None

    def submit(i: int) -> Future[Dissected]:
        shard = dataclasses.replace(job, path=paths[i], shard=True)
        return pool.submit(dissect, shard, tell.part(i) if tell else None, beside)

    piped = shard_pipes.make(paths[: min(parallel.jobs or cores, count)]) if streams else []
    early = {path: submit(i) for i, path in enumerate(piped)}
    try:
        cut = shards.cut(info.path, paths, shard_pipes.opener(early))
    except shards.Unshardable:  # read whole, as always; a pipe's reader saw an early end
        shard_pipes.release(early)
        shutil.rmtree(folder, ignore_errors=True)
        if beside:  # the pipes' blocks may have started it: the whole pass has its own
            beside.pool.shutdown(wait=False, cancel_futures=True)
        return _whole(info, job, pool, census, progress)
    tasks = [*early.values(), *(submit(i) for i in range(len(early), count))]
    return _Started(info, census, tasks, cut.frames, folder, progress, job, beside)


def _whole(
    info: CaptureFile,
    job: Dissection,
    pool: Executor,
    census: subprocess.Popen[str] | None,
    progress: Callable[[Path, int, int], None] | None,
) -> _Started:
    tell = (lambda n, off: progress(info.path, n, off)) if progress else None
    task = pool.submit(dissect, job, *([tell] if tell else []))
    return _Started(info, census, [task], None, None, progress, job)


def _finish(started: _Started) -> CaptureData:
    parts = [task.result() for task in started.tasks]
    if started.frames is None:
        whole = parts[0]
    elif (merged := sharding.merge(parts, started.frames)) is not None:
        whole = complete(merged, started.job, started.beside)
    else:  # the shards could not be put back exactly: read the file whole
        whole = dissect(started.job)
    census = tshark_run.finish_census(started.census)
    if started.progress and census.packets is not None:  # the packets after the last TCP one
        started.progress(started.info.path, census.packets, started.info.path.stat().st_size)
    return _capture_data(started.info, whole, census)


def _capture_data(info: CaptureFile, whole: Dissected, census: tshark_run.Census) -> CaptureData:
    path = info.path
    messages = [ln for ln in whole.messages if ln and not ln.startswith(NOISE)]
    damage = _damage(messages)
    if whole.returncode != 0 and whole.packets.height == 0 and not damage:
        detail = messages[-1] if messages else f"tshark exited with {whole.returncode}"
        raise InputError(f"tshark could not read it: {detail}", source=str(path))
    if whole.returncode != 0 and not damage:
        detail = messages[-1] if messages else f"exited with {whole.returncode}"
        damage = [f"tshark stopped early ({detail})"]
    packets = whole.packets
    read = census.packets if census.packets is not None else _packets_seen(packets)
    warnings = [f"{path}: {d} (kept the {read} packets read before it)" for d in damage]
    if whole.timeless:
        warnings.append(
            f"{path}: {whole.timeless} packet(s) stamped outside the years 1677-2262 were "
            "left out (a corrupt timestamp; every time in the capture is suspect)"
        )
    facts = _facts(info, packets, bool(damage)) | {"packets": read}
    if not whole.timeless:  # a corrupt timestamp anywhere would be capinfos' first or last
        facts |= _census_times(census, facts)
    if facts["truncated_packets"]:
        warnings.append(_snaplen_warning(path, packets, facts))
    return CaptureData(info, packets, facts, whole.spans, whole.frames, whole.misaligned, warnings)


class _Progress:
    """Adds up the progress of a capture's shards into the capture's: packets read and
    bytes into the file (the shards' sizes add up to the file's)."""

    def __init__(self, path: Path, parts: int, tell: Callable[[Path, int, int], None]) -> None:
        self.path, self.tell = path, tell
        self.seen = [(0, 0)] * parts
        self.lock = threading.Lock()

    def part(self, i: int) -> Callable[[int, int], None]:
        def moved(packets: int, offset: int) -> None:
            with self.lock:
                self.seen[i] = (packets, offset)
                total = [sum(x) for x in zip(*self.seen, strict=True)]
            self.tell(self.path, *total)

        return moved


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
