"""Log files -> their events attached to sessions, the sessions only logs tell of, and
the log columns of every session (schema group "log")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from analyzer.features.logs import log_features
from analyzer.ingest.logs import LogData
from analyzer.schema import SESSION_LOG_EVENTS
from analyzer.session_schema import SESSION_GROUPS, SESSIONS
from analyzer.sessions.correlate import correlate
from analyzer.sessions.dataset import Dataset
from analyzer.sessions.finish import finish_sessions
from analyzer.sessions.log_frames import log_frames
from analyzer.sessions.log_only import log_only_sessions, merge_across_logs


def add_logs(data: Dataset, logs: list[tuple[Path, LogData]]) -> None:
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
    data.frames = pl.concat([data.frames, log_frames(data.log_events)])
    data.sessions = with_log_columns(data.sessions, (data.log_events, found.offsets))
    data.files["log"] = [log_facts(p, log, data.log_events, found.offsets) for p, log in logs]


def with_log_columns(
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


def log_facts(
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
