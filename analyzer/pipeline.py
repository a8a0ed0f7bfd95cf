"""inputs -> normalised tables -> sessions with features: the engine behind every command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analyzer import anomalies, sessions
from analyzer.correlate import correlate
from analyzer.features.closing import closing_features
from analyzer.features.common import seconds
from analyzer.features.endpoint import certificate_features, deepgram_flag
from analyzer.features.framing import framing_features
from analyzer.features.liveness import liveness_features, quiet_features
from analyzer.features.logs import log_features, log_only_sessions, merge_across_logs
from analyzer.features.tcp import baseline_features, session_tcp_features, tcp_event_features
from analyzer.har_match import match_hars
from analyzer.har_sessions import har_facts, har_tables
from analyzer.ingest import tshark
from analyzer.ingest.capture import CaptureData, load_capture
from analyzer.ingest.frames import explode_frames
from analyzer.ingest.handshakes import handshake_rows
from analyzer.ingest.har import HarData, read_har
from analyzer.ingest.logpacks import load_packs
from analyzer.ingest.logs import LogData, read_log
from analyzer.ingest.tcp_events import tcp_events
from analyzer.inputs import Inputs
from analyzer.schema import (
    ANOMALIES,
    COUNT_COLUMNS,
    FRAMES,
    SESSION_GROUPS,
    SESSION_LOG_EVENTS,
    SESSIONS,
    TCP_EVENTS,
)

Progress = Callable[[Path, int, int], None]


@dataclass
class Dataset:
    sessions: pl.DataFrame
    frames: pl.DataFrame
    tcp_events: pl.DataFrame
    anomalies: pl.DataFrame
    captures: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    log_events: pl.DataFrame = field(default_factory=SESSION_LOG_EVENTS.empty)
    logs: list[dict[str, Any]] = field(default_factory=list)  # per log file, see _log_facts
    hars: list[dict[str, Any]] = field(default_factory=list)  # per HAR file


def load(
    paths: list[Path] | Inputs,
    keylog: Path | None = None,
    tshark_path: str | None = None,
    progress: Progress | None = None,
    log_packs: list[Path] | None = None,
) -> Dataset:
    """Read every input. A plain list is captures only (the pre-HAR/log callers).

    `log_packs`: folders or files of log pattern packs read besides the built-in ones."""
    inputs = paths if isinstance(paths, Inputs) else Inputs(captures=list(paths))
    captures = []
    if inputs.captures:  # a log or HAR alone needs no tshark
        binary = tshark.find_tshark(tshark_path)
        captures = [
            load_capture(
                p,
                i,
                keylog,
                binary,
                (lambda n, off, p=p: progress(p, n, off)) if progress else None,
            )
            for i, p in enumerate(inputs.captures)
        ]
    first = len(captures)
    hars = [read_har(p, first + i) for i, p in enumerate(inputs.hars)]
    packs = load_packs(log_packs) if inputs.logs else []  # once, for every log
    logs = [(p, read_log(p, packs, tz=inputs.log_tz)) for p in inputs.logs]
    return build(captures, keylog, hars, logs)


def _bound(progress: Progress | None, path: Path) -> Callable[[int, int], None] | None:
    return (lambda n, off: progress(path, n, off)) if progress else None


def build(
    captures: list[CaptureData],
    keylog: Path | None = None,
    hars: list[HarData] | None = None,
    logs: list[tuple[Path, LogData]] | None = None,
) -> Dataset:
    data = _build_captures(captures, keylog) if captures else _empty_dataset()
    if hars:
        _add_hars(data, hars, len(captures))
        if captures:
            _fold_hars(data)
    if logs:
        _add_logs(data, logs)
    elif hars:
        _renumber(data)
    data.sessions = _with_log_columns(data.sessions, None)
    return data


def _empty_dataset() -> Dataset:
    return Dataset(SESSIONS.empty(), FRAMES.empty(), TCP_EVENTS.empty(), ANOMALIES.empty(), [], [])


def _build_captures(captures: list[CaptureData], keylog: Path | None) -> Dataset:
    packets = pl.concat([c.packets for c in captures])
    raw_frames, misaligned = explode_frames(packets)
    handshakes = handshake_rows(packets)
    base = sessions.session_streams(packets, raw_frames, handshakes).join(
        sessions.stream_roles(packets, raw_frames, handshakes), on=sessions.KEY, how="left"
    )
    numbered = sessions.number_sessions(base, packets)
    frames = _frames(sessions.tag(raw_frames, numbered))
    tagged_packets = sessions.tag(packets, numbered)
    events = tcp_events(tagged_packets)
    names = {i: str(c.file.path) for i, c in enumerate(captures)}
    table = _session_table(numbered, handshakes, frames, events, tagged_packets, names)
    found = anomalies.collect(
        anomalies.frame_anomalies(frames) + anomalies.handshake_anomalies(table)
    )
    warnings = [w for c in captures for w in c.warnings]
    warnings += _coverage_warnings(captures, table, keylog, misaligned.height)
    facts = [c.facts | _session_facts(table, i) for i, c in enumerate(captures)]
    frames = frames.with_columns(pl.col("input").replace_strict(names, return_dtype=pl.String))
    return Dataset(table, FRAMES.conform(frames), events, found, facts, warnings)


def _add_hars(data: Dataset, hars: list[HarData], first_index: int) -> None:
    """HAR sessions join the capture's: same columns, `source: har`."""
    table, frames = har_tables(hars, first_index)
    data.warnings += [w for h in hars for w in h.warnings]
    data.hars = har_facts(hars)
    if table.height:
        listed = pl.col("messages_recorded")  # Firefox lists no messages: counts unknown
        table = _padded(table).with_columns(
            pl.when(listed).then(pl.col(c).fill_null(0)).otherwise(pl.col(c)) for c in FRAME_COUNTS
        )
        data.sessions = pl.concat([data.sessions, finish_sessions(table, counts=[])])
        data.frames = pl.concat([data.frames, frames])


def _fold_hars(data: Dataset) -> None:
    """A HAR session of a connection the capture also holds is folded into the capture's
    row (analyzer/har_match.py): one session per connection, findings not doubled."""
    is_har = pl.col("source") == "har"
    pairs, offsets = match_hars(data.sessions.filter(is_har), data.sessions.filter(~is_har))
    folded = pairs["har_id"].implode()
    gone = pl.col("session").is_in(folded)
    counts = data.frames.filter(gone).group_by("session").agg(pl.len().alias("har_messages"))
    facts = pairs.join(counts, left_on="har_id", right_on="session", how="left").select(
        "id",
        "har_input",
        "har_match",
        pl.col("har_input")
        .replace_strict(offsets, default=None, return_dtype=pl.Float64)
        .alias("har_offset_s"),
        pl.col("har_messages").fill_null(0),
    )
    kept = data.sessions.filter(~pl.col("id").is_in(folded))
    data.sessions = SESSIONS.conform(
        kept.drop(SESSION_GROUPS["har"]).join(facts, on="id", how="left")
    )
    data.frames = data.frames.filter(~gone)
    for facts_of_file in data.hars:
        path = facts_of_file["path"]
        facts_of_file["matched"] = pairs.filter(pl.col("har_input") == path).height
        facts_of_file["offset_s"] = offsets.get(path)


def _add_logs(data: Dataset, logs: list[tuple[Path, LogData]]) -> None:
    """Attach log events to sessions; what no session explains becomes log-only sessions."""
    data.warnings += [w for _, log in logs for w in log.warnings]
    data.warnings += [
        f"{p}: empty log file"
        for p, log in logs
        if log.lines_total == 0 and not any(str(p) in w for w in log.warnings)
    ]
    events = pl.concat([log.events for _, log in logs])
    found = correlate(events, data.sessions)
    tagged = merge_across_logs(found.events)
    only = log_only_sessions(tagged)
    if only.height:
        ids = only.select("segment", pl.col("id").alias("_lid"))
        tagged = tagged.join(ids, on="segment", how="left").with_columns(
            pl.coalesce("session", "_lid").alias("session"),
            pl.when(pl.col("_lid").is_not_null())
            .then(pl.lit("log"))
            .otherwise("match")
            .alias("match"),
        )
        data.sessions = pl.concat(
            # A log does not list every frame: its sessions' frame counters stay unknown.
            [data.sessions, finish_sessions(only.drop("segment"), counts=[])]
        )
    data.log_events = SESSION_LOG_EVENTS.conform(tagged)
    data.sessions = _with_log_columns(data.sessions, (data.log_events, found.offsets))
    data.logs = [_log_facts(p, log, data.log_events, found.offsets) for p, log in logs]
    _renumber(data)


def _with_log_columns(
    table: pl.DataFrame, logs: tuple[pl.DataFrame, dict[str, float | None]] | None
) -> pl.DataFrame:
    """Fill the LOG group: from the events when there are logs, else 0 / null."""
    cols = SESSION_GROUPS["log"]
    if logs is None:
        if table["log_events"].null_count() == 0:
            return table
        return table.with_columns(pl.col("log_events").fill_null(0))
    events, offsets = logs
    feats = log_features(events).rename({"session": "id"})
    first_file = (
        events.filter(pl.col("session").is_not_null())
        .group_by("session")
        .agg(pl.col("input").sort_by("aligned_time", "line").first())
        .select(
            pl.col("session").alias("id"),
            pl.col("input")
            .replace_strict(offsets, default=None, return_dtype=pl.Float64)
            .alias("log_offset_s"),
        )
    )
    only_log = pl.col("source") == "log"
    return SESSIONS.conform(
        table.drop(cols)
        .join(feats, on="id", how="left")
        .join(first_file, on="id", how="left")
        .with_columns(
            pl.col("log_events").fill_null(0),
            pl.when(only_log).then(None).otherwise(pl.col("log_offset_s")).alias("log_offset_s"),
        )
    )


def _log_facts(
    path: Path, log: LogData, events: pl.DataFrame, offsets: dict[str, float | None]
) -> dict[str, Any]:
    mine = events.filter(pl.col("input") == str(path))
    attached = mine.filter(pl.col("match").is_not_null() & (pl.col("match") != "log"))
    return {
        "path": str(path),
        "kind": "log",
        "size_bytes": path.stat().st_size,
        "lines": log.lines_total,
        "events": mine.height,
        "matched": attached.height,
        "log_only_sessions": mine.filter(pl.col("match") == "log")["session"].n_unique(),
        "offset_s": offsets.get(str(path)),
        "tz_assumed": bool(mine["tz_assumed"].any()) if mine.height else False,
        "pack": log.pack,
    }


def _renumber(data: Dataset) -> None:
    """Ids s1.. by start time over every source; capture ids keep their order among ties."""
    rank = pl.col("source").replace_strict(
        {"capture": 0, "har": 1, "log": 2}, default=3, return_dtype=pl.Int32
    )
    seq = pl.col("id").str.extract(r"(\d+)$", 1).cast(pl.Int64, strict=False)
    order = data.sessions.with_columns(rank.alias("_r"), seq.alias("_q")).sort(
        "start", "_r", "_q", nulls_last=True, maintain_order=True
    )
    new = [f"s{i}" for i in range(1, order.height + 1)]
    mapping = dict(zip(order["id"].to_list(), new, strict=True))
    if all(k == v for k, v in mapping.items()):
        return
    remap = pl.col("session").replace_strict(mapping, default=None, return_dtype=pl.String)
    data.sessions = order.drop("_r", "_q").with_columns(
        pl.col("id").replace_strict(mapping, return_dtype=pl.String)
    )
    data.frames = data.frames.with_columns(remap)
    data.tcp_events = data.tcp_events.with_columns(remap)
    data.anomalies = data.anomalies.with_columns(remap)
    data.log_events = data.log_events.with_columns(remap)


def _frames(tagged: pl.DataFrame) -> pl.DataFrame:
    """Add per-message context: the opcode a continuation frame belongs to."""
    data_op = pl.when(pl.col("opcode").is_in(["text", "binary"])).then(pl.col("opcode"))
    # Stable sort: frames that share a packet keep tshark's (wire) order.
    return tagged.sort("session", "ts", "frame_no", maintain_order=True).with_columns(
        pl.when(pl.col("opcode") == "continuation")
        .then(data_op.forward_fill().over("session", "from_client"))
        .otherwise(pl.col("opcode"))
        .alias("message_opcode"),
        pl.col("frame_no").alias("frame"),
        pl.col("ts").alias("time"),
        pl.col("stream").alias("tcp_stream"),
    )


def _session_table(
    numbered: pl.DataFrame,
    handshakes: pl.DataFrame,
    frames: pl.DataFrame,
    events: pl.DataFrame,
    packets: pl.DataFrame,
    names: dict[int, str],
) -> pl.DataFrame:
    by_id = [
        framing_features(frames),
        liveness_features(frames),
        closing_features(frames),
        tcp_event_features(events),
        baseline_features(packets),
        certificate_features(packets),
    ]
    table = numbered.join(handshakes.drop("client", "server"), on=sessions.KEY, how="left")
    for part in by_id:
        table = table.join(part.rename({"session": "id"}), on="id", how="left")
    table = table.with_columns(
        pl.col("input").alias("input_index"),
        pl.col("input").replace_strict(names, return_dtype=pl.String),
        pl.col("stream").alias("tcp_stream"),
        pl.lit("capture").alias("source"),
    )
    return finish_sessions(table, counts=COUNT_COLUMNS)


# Frame counters a HAR or a log-only session can state; TCP counters stay null there.
FRAME_COUNTS = [c for c in COUNT_COLUMNS if c in SESSION_GROUPS["traffic"]]


def finish_sessions(table: pl.DataFrame, counts: list[str]) -> pl.DataFrame:
    """The features every source derives the same way from its columns, then SESSIONS.

    Missing SESSIONS columns are added as typed nulls first, so a HAR or log-only row goes
    through the same expressions as a capture row.
    """
    table = _padded(table)
    for part in (quiet_features, session_tcp_features):
        feats = part(table)
        table = table.drop([c for c in feats.columns if c != "id"]).join(feats, on="id", how="left")
    return SESSIONS.conform(
        table.with_columns(
            seconds(pl.col("end") - pl.col("start")).alias("duration_s"),
            (seconds(pl.col("response_time") - pl.col("request_time")) * 1000).alias(
                "handshake_rtt_ms"
            ),
            pl.col(counts).fill_null(0),
            deepgram_flag().alias("deepgram"),
        )
    )


def _padded(table: pl.DataFrame) -> pl.DataFrame:
    missing = [
        pl.lit(None, dtype).alias(name)
        for name, dtype in SESSIONS.polars.items()
        if name not in table.columns
    ]
    return table.with_columns(missing) if missing else table


def _session_facts(table: pl.DataFrame, index: int) -> dict[str, Any]:
    mine = table.filter(pl.col("input_index") == index)
    return {
        "sessions": mine.height,
        "encrypted_sessions": mine.filter(pl.col("kind") == "encrypted").height,
        "recovered_sessions": mine.filter(pl.col("kind") == "recovered").height,
    }


def _coverage_warnings(
    captures: list[CaptureData], table: pl.DataFrame, keylog: Path | None, misaligned: int
) -> list[str]:
    out = []
    for i, c in enumerate(captures):
        mine = table.filter(pl.col("input_index") == i)
        if mine.height == 0:
            out.append(
                f"{c.file.path}: no WebSocket traffic found "
                f"({c.facts['tcp_connections']} TCP connections, "
                f"{c.facts['packets']} packets)"
            )
        encrypted = mine.filter(pl.col("kind") == "encrypted").height
        if encrypted and keylog is None:
            out.append(
                f"{c.file.path}: {encrypted} TLS connection(s) could not be decrypted; "
                "pass --keylog FILE (an SSLKEYLOGFILE) to see their WebSocket frames"
            )
        elif encrypted:
            out.append(
                f"{c.file.path}: {encrypted} TLS connection(s) stayed encrypted: "
                f"{keylog} has no keys for them"
            )
    if misaligned:
        out.append(
            f"{misaligned} packet(s) had WebSocket header fields tshark did not "
            "report once per frame; their frames were skipped"
        )
    return out
