"""Log evidence as session columns (schema group "log").

Rules read one row per session, so the events attached to a session are summarised into a
few columns a rule can test: the close code a log names, whether it reports an abnormal
close, a ping or proxy timeout, a reset or a failed handshake, and where to look
(`log_source`, the most telling line).
"""

from __future__ import annotations

import polars as pl

# The kinds' orders and sets are declared with each kind (analyzer/vocab.py): PRIORITY is
# most telling first (what a support engineer should read before anything else),
# CLOSE_PRIORITY whose code a log's close line states (the peer's close beats our own echo
# of it), FLAGGED the kinds with a `log_<kind>` column.
from analyzer.vocab import CLOSE_PRIORITY, FLAGGED, PRIORITY, REFUSALS


def _rank(order: list[str]) -> pl.Expr:
    return pl.col("kind").replace_strict(
        {k: i for i, k in enumerate(order)}, default=len(order), return_dtype=pl.Int32
    )


def log_features(events: pl.DataFrame, key: str = "session") -> pl.DataFrame:
    """Per `key` value: the LOG group columns (without log_offset_s)."""
    failed = pl.col("kind").is_in(REFUSALS)
    return (
        events.filter(pl.col(key).is_not_null())
        .group_by(key)
        .agg(
            pl.len().cast(pl.Int64).alias("log_events"),
            _telling_line(),
            _stated_close(),
            *[(pl.col("kind") == k).any().alias(f"log_{k}") for k in FLAGGED],
            pl.col("status").filter(failed).drop_nulls().first().alias("log_handshake_status"),
            failed.any().alias("log_handshake_failed"),
            pl.col("aligned_time").min().alias("log_first_time"),
        )
        .unnest("_telling", "_close")
    )


# The most telling line, and the line whose close code is stated: each read as one
# struct, so a set of columns shares one sort.
def _telling_line() -> pl.Expr:
    return (
        pl.struct(
            pl.format("{}:{}", "input", "line").alias("log_source"),
            pl.col("side").alias("log_source_side"),
            pl.col("text").alias("log_source_text"),
            pl.col("aligned_time").alias("log_source_time"),
        )
        .sort_by(_rank(PRIORITY), pl.col("line"))
        .first()
        .alias("_telling")
    )


def _stated_close() -> pl.Expr:
    """The close code and reason of the most telling close line; among equals the longest
    reason (SDK debug lines abbreviate), then the first."""
    has_close = pl.col("close_code").is_not_null()
    close_order = [
        _rank(CLOSE_PRIORITY).filter(has_close),
        pl.col("close_reason").str.len_chars().fill_null(0).filter(has_close),
        pl.col("line").filter(has_close),
    ]
    return (
        pl.struct(
            pl.col("close_code").alias("log_close_code"),
            pl.col("close_reason").alias("log_close_reason"),
        )
        .filter(has_close)
        .sort_by(close_order, descending=[False, True, False])
        .first()
        .alias("_close")
    )
