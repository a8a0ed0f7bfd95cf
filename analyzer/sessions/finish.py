"""The session columns every source derives the same way, once its own columns are set."""

from __future__ import annotations

import polars as pl

from analyzer.features.common import seconds
from analyzer.features.endpoint import deepgram_flag
from analyzer.features.liveness import quiet_features
from analyzer.features.tcp import session_tcp_features
from analyzer.session_schema import COUNT_COLUMNS, SESSION_GROUPS, SESSIONS

# Frame counters a HAR or a log-only session can state; TCP counters stay null there.
FRAME_COUNTS = [c for c in COUNT_COLUMNS if c in SESSION_GROUPS["traffic"]]


def finish_sessions(table: pl.DataFrame, counts: list[str]) -> pl.DataFrame:
    """The features every source derives the same way from its columns, then SESSIONS.

    Missing SESSIONS columns are added as typed nulls first, so a HAR or log-only row goes
    through the same expressions as a capture row.
    """
    table = padded(table)
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


def padded(table: pl.DataFrame) -> pl.DataFrame:
    missing = [
        pl.lit(None, dtype).alias(name)
        for name, dtype in SESSIONS.polars.items()
        if name not in table.columns
    ]
    return table.with_columns(missing) if missing else table
