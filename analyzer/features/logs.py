"""Log evidence as session columns (schema group "log"), and sessions only a log describes.

Rules read one row per session, so the events attached to a session are summarised into a
few columns a rule can test: the close code a log names, whether it reports an abnormal
close, a ping or proxy timeout, a reset or a failed handshake, and where to look
(`log_source`, the most telling line).
"""

from __future__ import annotations

import polars as pl

from analyzer.features.closing import close_summary
from analyzer.schema import REFUSALS

# Most telling first: what a support engineer should read before anything else.
PRIORITY = [
    "proxy_refused",
    "handshake_failed",
    "proxy_timeout",
    "ping_timeout",
    "abnormal_close",
    "reset",
    "close_received",
    "close_sent",
    "error",
    "proxy_closed",
    "connection_closed",
    "connection_open",
    "request_id",
    "keepalive_sent",
    "frame_received",
    "frame_sent",
]
# Whose code a log's close line states: the peer's close beats our own echo of it.
CLOSE_PRIORITY = ["close_received", "close_sent", "abnormal_close"]
# Kinds that show a log describes a connection (not only frames or a proxy's own restart).
CONNECTION_KINDS = [
    "connection_open",
    "request_id",
    "close_received",
    "close_sent",
    "abnormal_close",
    *REFUSALS,
    "ping_timeout",
    "proxy_timeout",
    "reset",
    "connection_closed",
]


def _rank(order: list[str]) -> pl.Expr:
    return pl.col("kind").replace_strict(
        {k: i for i, k in enumerate(order)}, default=len(order), return_dtype=pl.Int32
    )


def log_features(events: pl.DataFrame, key: str = "session") -> pl.DataFrame:
    """Per `key` value: the LOG group columns (without log_offset_s)."""
    has_close = pl.col("close_code").is_not_null()
    close_order = [
        _rank(CLOSE_PRIORITY).filter(has_close),
        pl.col("close_reason").str.len_chars().fill_null(0).filter(has_close),
        pl.col("line").filter(has_close),
    ]
    failed = pl.col("kind").is_in(REFUSALS)
    return (
        events.filter(pl.col(key).is_not_null())
        .group_by(key)
        .agg(
            pl.len().cast(pl.Int64).alias("log_events"),
            # The most telling line, and the line whose close code is stated: each read
            # as one struct, so a set of columns shares one sort.
            pl.struct(
                pl.format("{}:{}", "input", "line").alias("log_source"),
                pl.col("side").alias("log_source_side"),
                pl.col("text").alias("log_source_text"),
            )
            .sort_by(_rank(PRIORITY), pl.col("line"))
            .first()
            .alias("_telling"),
            pl.struct(
                pl.col("close_code").alias("log_close_code"),
                pl.col("close_reason").alias("log_close_reason"),
            )
            .filter(has_close)
            .sort_by(close_order, descending=[False, True, False])
            .first()
            .alias("_close"),
            *[
                (pl.col("kind") == k).any().alias(f"log_{k}")
                for k in ("abnormal_close", "ping_timeout", "proxy_timeout", "reset")
            ],
            pl.col("status").filter(failed).drop_nulls().first().alias("log_handshake_status"),
            (pl.col("kind") == "proxy_refused").any().alias("log_proxy_refused"),
            failed.any().alias("log_handshake_failed"),
            pl.col("aligned_time").min().alias("log_first_time"),
        )
        .unnest("_telling", "_close")
    )


def log_only_sessions(events: pl.DataFrame) -> pl.DataFrame:
    """One SESSIONS-shaped row (partial) per unmatched segment that describes a connection.

    The log's own side decides whose close is whose: a client's "close sent" is the
    client's close, a server's is the server's.
    """
    free = _connection_segments(events.filter(pl.col("session").is_null()))
    if free.is_empty():
        return pl.DataFrame()
    mine, theirs = _own_and_peer_close()
    rows = (
        free.sort("segment", "line")
        .group_by("segment", maintain_order=True)
        .agg(
            pl.col("input").first(),
            pl.col("time").min().alias("start"),
            pl.col("time").max().alias("end"),
            pl.col("request_id").drop_nulls().first().alias("dg_request_id"),
            pl.col("local_port").drop_nulls().first().alias("port"),
            pl.col("path").drop_nulls().first(),
            # The peer a client's line names (refused connections name nothing else).
            pl.col("remote")
            .filter(pl.col("side") == "client")
            .drop_nulls()
            .first()
            .alias("server"),
            pl.col("status").filter(pl.col("kind").is_in(REFUSALS)).drop_nulls().first(),
            pl.col("kind").is_in(REFUSALS).any().alias("failed"),
            *_close("client", mine),
            *_close("server", theirs),
        )
    )
    return rows.with_columns(
        pl.format("l{}", pl.col("segment")).alias("id"),
        pl.lit("log").alias("source"),
        pl.when(pl.col("failed"))
        .then(pl.lit("rejected"))
        .otherwise(pl.lit("websocket"))
        .alias("kind"),
        pl.when(pl.col("port").is_not_null()).then(pl.format(":{}", "port")).alias("client"),
        *close_summary(pl.col("_client_line"), pl.col("_server_line")),
    ).drop("failed", "port", "_client_line", "_server_line")


def merge_across_logs(events: pl.DataFrame, slack_s: float = 2.0) -> pl.DataFrame:
    """One connection told by several logs (the client's, the server's, the proxy's) is one
    session: unmatched segments of different files that name the same request id (any
    time: the logs may come from machines with different clocks), or the same client port
    with overlapping spans (± slack), take the lowest segment id among them."""
    free = events.filter(pl.col("session").is_null())
    spans = free.group_by("segment").agg(
        pl.col("input").first(),
        pl.col("local_port").drop_nulls().first().alias("port"),
        pl.col("request_id").drop_nulls().first().alias("rid"),
        pl.col("time").min().alias("t0"),
        pl.col("time").max().alias("t1"),
    )
    slack = pl.duration(milliseconds=int(slack_s * 1000))
    overlap = (pl.col("t0") <= pl.col("t1_o") + slack) & (pl.col("t0_o") <= pl.col("t1") + slack)
    by_port = spans.drop_nulls("port").join(spans.drop_nulls("port"), on="port", suffix="_o")
    by_rid = spans.drop_nulls("rid").join(spans.drop_nulls("rid"), on="rid", suffix="_o")
    pairs = (
        pl.concat([by_port.filter(overlap).select(_PAIR), by_rid.select(_PAIR)])
        .filter(pl.col("input") != pl.col("input_o"))
        .group_by("segment")
        .agg(pl.min_horizontal(pl.col("segment_o").min(), pl.col("segment").first()).alias("to"))
    )
    if pairs.is_empty():
        return events
    joined = events.join(pairs, on="segment", how="left")
    return joined.with_columns(pl.coalesce("to", "segment").alias("segment")).drop("to")


_PAIR = ["segment", "input", "segment_o", "input_o"]


def _connection_segments(free: pl.DataFrame) -> pl.DataFrame:
    """Segments with at least one connection event: a lone proxy restart is not a session."""
    useful = free.group_by("segment").agg(pl.col("kind").is_in(CONNECTION_KINDS).any().alias("u"))
    return free.join(useful.filter("u").select("segment"), on="segment", how="semi")


def _own_and_peer_close() -> tuple[pl.Expr, pl.Expr]:
    """(the client's close, the server's close) as the log's side wrote them."""
    server = pl.col("side") == "server"
    sent, received = pl.col("kind") == "close_sent", pl.col("kind") == "close_received"
    return (sent & ~server) | (received & server), (received & ~server) | (sent & server)


def _close(name: str, cond: pl.Expr) -> list[pl.Expr]:
    return [
        pl.col("close_code").filter(cond).first().alias(f"close_{name}_code"),
        # The longest wording: SDK debug lines abbreviate reasons ("did not receive a...").
        pl.col("close_reason")
        .filter(cond)
        .sort_by(pl.col("close_reason").str.len_chars().filter(cond), descending=True)
        .first()
        .alias(f"close_{name}_reason"),
        pl.col("time").filter(cond).first().alias(f"close_{name}_time"),
        pl.col("line").filter(cond).first().alias(f"_{name}_line"),
    ]
